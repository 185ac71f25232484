"""What the installed package relies on, tested without installing it
(scripts/pkg-test.sh installs it and checks the rest as root).

/etc/logrotate.d/tern moves the accounting file aside (acct.csv ->
acct.csv.1), then runs `tern rotate acct`: ternd must then open a new
acct.csv instead of failing to rename a file that is no longer there,
and no record may be lost on the way.
"""
import csv
import io
import os
from pathlib import Path

from conftest import make_message, scaled

SENDER = "sender@client.test"


def _rcpts(path: Path) -> list:
    text = path.read_text()
    return [r["rcpt"] for r in csv.DictReader(io.StringIO(text))
            if r.get("type") == "d"]


def test_rotate_acct_after_logrotate_moved_the_file(make_tern, sink):
    tern = make_tern(routes={"example.test": sink}, records="d")
    tern.send(SENDER, ["before@example.test"], make_message())
    tern.wait_acct("d", "before@example.test")

    moved = tern.acct.with_name(tern.acct.name + ".1")
    os.rename(tern.acct, moved)            # what logrotate does
    # until ternd hears of it, rows go on into the moved file
    tern.send(SENDER, ["between@example.test"], make_message())
    tern.wait_for(lambda: "between@example.test" in _rcpts(moved),
                  scaled(30), what="row written to the moved file")
    assert not tern.acct.exists()

    r = tern.cli("rotate", "acct")         # logrotate's postrotate
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert r.stdout.strip() == "Accounting file rotated."

    tern.send(SENDER, ["after@example.test"], make_message())
    tern.wait_for(lambda: tern.acct.exists() and
                  "after@example.test" in _rcpts(tern.acct),
                  scaled(30), what="row in the new acct.csv")
    assert _rcpts(moved) == ["before@example.test", "between@example.test"]
    assert _rcpts(tern.acct) == ["after@example.test"]
    # the new file starts with the header, like every accounting file
    assert tern.acct.read_text().startswith("type,")
    # no dated file: logrotate names the rotated files, not ternd
    assert sorted(p.name for p in tern.acct.parent.glob("acct*")) == \
        sorted([tern.acct.name, moved.name])
