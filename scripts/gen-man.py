#!/usr/bin/env python3
"""Write tern.conf(5) from man/tern.conf.5.in and the directive table
(common/cfg_directives.c), so the manual lists every directive the
parser accepts, with its scope, type and default, and cannot drift.
The build runs it (man/CMakeLists.txt); the table is read with the same
code that writes docs/configuration.md (scripts/gen-directives.py).

    scripts/gen-man.py OUT        write tern.conf.5 to OUT
    scripts/gen-man.py --check    every page in man/ (and OUT's source)
                                  formats without groff warnings, and
                                  tern(8) names every verb of the CLI

The line ".\\" @DIRECTIVES@" of the template is replaced by the list.
"""

import importlib.util
import re
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TEMPLATE = REPO / "man" / "tern.conf.5.in"
MARK = '.\\" @DIRECTIVES@'
CLI = REPO / "cli" / "tern.c"


def gen_directives():
    spec = importlib.util.spec_from_file_location(
        "gen_directives", REPO / "scripts" / "gen-directives.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def roff(s):
    """Text safe inside a roff line (escapes, no leading control char)."""
    s = (s or "").replace("\\", "\\e").replace("-", "\\-")
    return "\\&" + s if s[:1] in (".", "'") else s


def entry(r, acted):
    name = f"<{r['name']}>" if r["type"] == "block" else r["name"]
    lines = [".TP", f".B {roff(name)}"]
    facts = [f"type {r['type']}", f"scope: {r['scopes']}"]
    if r["type"] != "block":
        facts.append("default: " + (r["default"] if r["default"]
                                    not in (None, "") else "none"))
    if acted:
        facts.append(f"acted on by {r['used']}")
    lines.append(roff("; ".join(facts)) + ".")
    if r["help"]:
        lines += [".br", roff(r["help"][0].upper() + r["help"][1:]) + "."]
    return lines


def directives_section():
    real, aliases, used, unused = gen_directives().groups()
    out = [".SH DIRECTIVES",
           f"Tern knows {len(real)} directives and {len(aliases)} aliases.",
           f"{len(used)} are acted on; the other {len(unused)} are "
           "accepted, so that a PowerMTA configuration loads, and each use "
           "of one is reported as a warning.",
           "Scope \\(lqglobal\\(rq means outside any block; a block's "
           "scope is where the block may be written.",
           ".SS Acted on"]
    for r in used:
        out += entry(r, True)
    out.append(".SS Accepted, not acted on yet")
    for r in unused:
        out += entry(r, False)
    out += [".SS Aliases",
            "Seed-guide and older PowerMTA names for the same setting."]
    for r in aliases:
        out += [".TP", f".B {roff(r['name'])}",
                f"same as \\fB{roff(r['alias_of'])}\\fR "
                f"(scope: {roff(r['scopes'])})."]
    return out


def generate():
    text = TEMPLATE.read_text()
    if MARK not in text:
        raise SystemExit(f"{TEMPLATE}: no line {MARK}")
    return text.replace(MARK, "\n".join(directives_section()))


def groff_warnings(page):
    r = subprocess.run(["groff", "-man", "-ww", "-z", str(page)],
                       capture_output=True, text=True)
    return r.stderr.strip()


def cli_verbs():
    """The usage strings of cli/tern.c's verb table."""
    text = CLI.read_text()
    table = text[text.index("cli_verbs[] = {"):]
    table = table[:table.index("};")]
    return re.findall(r'\{ "([a-z-]+)", (?:"([a-z-]+)"|NULL) \}', table)


def check():
    problems = []
    with tempfile.TemporaryDirectory() as tmp:
        conf5 = Path(tmp) / "tern.conf.5"
        conf5.write_text(generate())
        for page in [conf5, *sorted((REPO / "man").glob("*.[0-9]"))]:
            w = groff_warnings(page)
            if w:
                problems.append(f"{page.name}: groff warnings:\n{w}")
    tern8 = (REPO / "man" / "tern.8").read_text().replace("\\-", "-")
    for words in cli_verbs():
        verb = " ".join(w for w in words if w)
        if not re.search(r"\b" + re.escape(verb) + r"\b", tern8):
            problems.append(f"tern.8 does not describe `tern {verb}`")
    for p in problems:
        print(p, file=sys.stderr)
    return 1 if problems else 0


def main():
    if sys.argv[1:] == ["--check"]:
        return check()
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    out = Path(sys.argv[1])
    new = generate()
    if not out.exists() or out.read_text() != new:
        out.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
