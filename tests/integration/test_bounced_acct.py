"""bounced: accounting file rotation (move-interval, max-size,
delete-after, move-to, `tern rotate acct`) and piped accounting.

ternd renames and reopens the files (bounced is chrooted); these tests
check what an operator sees: dated files next to the live one, each
starting with its header, and every record in exactly one file, also
while mail flows during the rotations.
"""
import csv
import io
import os
import re
import shlex
import shutil
import tempfile
import threading
import time
from pathlib import Path

import pytest

from conftest import make_message, scaled

SENDER = "sender@client.test"
DATED = re.compile(r"^acct-\d{4}-\d{2}-\d{2}-\d{4}(-\d+)?\.csv$")


def _file_rows(path: Path) -> tuple:
    raw = path.read_bytes()
    text = raw[:raw.rfind(b"\n") + 1].decode("utf-8")
    lines = text.splitlines()
    return lines[0] if lines else "", list(
        csv.DictReader(io.StringIO(text, newline="")))


def _all_d(tern) -> list:
    return [r["rcpt"] for r in tern.acct_rows("d")]


def _send_many(tern, rcpts, per_msg=5):
    for i in range(0, len(rcpts), per_msg):
        tern.send(SENDER, rcpts[i:i + per_msg], make_message())


def _check_files(tern, header_line):
    """Every file (live and rotated) starts with the header; rotated ones
    have PowerMTA's dated names."""
    files = tern.acct_files()
    for f in files:
        if f != tern.acct:
            assert DATED.match(f.name), f.name
        if f.stat().st_size:
            assert _file_rows(f)[0] == header_line, f
    return files


def test_rotate_acct_under_load_loses_and_duplicates_nothing(make_tern,
                                                             sink):
    tern = make_tern(routes={"example.test": sink}, records="d")
    rcpts = [f"r{i}@example.test" for i in range(150)]
    tern.send(SENDER, ["first@example.test"], make_message())
    tern.wait_acct("d", "first@example.test")
    header = _file_rows(tern.acct)[0]

    sender = threading.Thread(target=_send_many, args=(tern, rcpts))
    sender.start()
    rotations = 0
    try:
        while sender.is_alive() or rotations < 3:
            r = tern.cli("rotate", "acct")
            assert r.returncode == 0, (r.stdout, r.stderr)
            assert r.stdout.strip() == "Accounting file rotated."
            rotations += 1
            time.sleep(0.2)
    finally:
        sender.join()
    tern.wait_for(lambda: len(_all_d(tern)) >= len(rcpts) + 1, scaled(60),
                  what="every d row")
    got = _all_d(tern)
    # each recipient exactly once, over all the files
    assert sorted(got) == sorted(rcpts + ["first@example.test"])
    files = _check_files(tern, header)
    assert len(files) >= 3, files

    # a file named as in the config, and one that is not configured
    r = tern.cli("rotate", "acct", str(tern.acct))
    assert r.returncode == 0, r.stderr
    r = tern.cli("rotate", "acct", "/nonexistent/x.csv")
    assert r.returncode == 1 and "no accounting file" in r.stderr


def test_max_size_rotates_and_delete_after_removes_old(make_tern, sink):
    # a rotated file from long ago, and one that is not ours
    tern = make_tern(routes={"example.test": sink}, records="d",
                     start=False)
    tern.dir.mkdir(parents=True, exist_ok=True)
    old = tern.acct.parent / "acct-2020-01-01-0000.csv"
    old.write_text("type,rcpt\r\n")
    os.utime(old, (time.time() - 3 * 86400,) * 2)
    other = tern.acct.parent / "notes-2020-01-01-0000.csv"
    other.write_text("keep\n")
    os.utime(other, (time.time() - 3 * 86400,) * 2)
    tern._config_text = tern.config_text().replace(
        "    records d\n", "    records d\n    max-size 2k\n"
        "    delete-after 2d\n", 1)
    tern.start()
    rcpts = [f"s{i}@example.test" for i in range(40)]
    # four rounds of ten rows (about 6 KB each): every round passes 2k
    for n in range(0, 40, 10):
        _send_many(tern, rcpts[n:n + 10], per_msg=5)
        tern.wait_for(lambda: len(_all_d(tern)) >= n + 10, scaled(60),
                      what=f"{n + 10} d rows")
    assert sorted(_all_d(tern)) == sorted(rcpts)
    rotated = [f for f in tern.acct_files() if f != tern.acct]
    assert len(rotated) >= 3, rotated
    # a file is rotated once it has reached max-size, not before
    assert all(f.stat().st_size >= 2048 for f in rotated), \
        [(f.name, f.stat().st_size) for f in rotated]
    assert not old.exists()
    assert other.exists()


def test_move_interval_and_move_to(make_tern, sink, tmp_path):
    archive = tmp_path / "archive"
    archive.mkdir()
    tern = make_tern(routes={"example.test": sink}, records="d",
                     start=False)
    tern._config_text = tern.config_text().replace(
        "    records d\n", f"    records d\n    move-interval 2s\n"
        f"    move-to {archive}\n", 1)
    tern.start()
    tern.send(SENDER, ["a@example.test"], make_message())

    # the row may be moved before anyone reads acct.csv: look in move-to
    def moved():
        files = [f for f in archive.iterdir() if DATED.match(f.name)]
        rows = [r for f in files for r in _file_rows(f)[1]]
        return rows if rows else None
    rows = tern.wait_for(moved, scaled(20), what="a row in move-to")
    assert [r["rcpt"] for r in rows] == ["a@example.test"]
    # the live file starts again, empty, and takes the next rows
    tern.send(SENDER, ["b@example.test"], make_message())
    tern.wait_for(lambda: tern.acct.exists() and "b@example.test" in
                  tern.acct.read_text(), scaled(20), what="b in acct.csv")


@pytest.fixture
def open_dir():
    """A directory the pipe's command may write to: it runs as the
    unprivileged run-as user, which cannot enter pytest's private tmp."""
    d = Path(tempfile.mkdtemp(prefix="tern-pipe-", dir="/tmp"))
    d.chmod(0o777)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def test_piped_accounting(make_tern, sink, open_dir):
    out = open_dir / "piped.csv"
    tern = make_tern(routes={"example.test": sink}, extra=f"""
<acct-file "|tee -a {out}">
    records d, b
    record-fields d type,rcpt,dsnStatus
</acct-file>
""")
    bad = "gone@example.test"
    sink.add_rule("RCPT", "550 5.1.1 no such user", count=None, match=bad)
    tern.send(SENDER, ["p1@example.test", bad], make_message(),
              rcpt_options=["NOTIFY=NEVER"])
    tern.send(SENDER, ["p2@example.test"], make_message())

    def rows():
        if not out.exists():
            return None
        header, r = _file_rows(out)
        return len(r) >= 3 and (header, r)
    header, r = tern.wait_for(rows, scaled(20), what="rows in the pipe")
    # the header once, then the rows; d rows with their own columns
    assert header.startswith("type,"), header
    assert out.read_text().count("type,") == 1
    d = sorted(x["rcpt"] for x in r if x["type"] == "d")
    assert d == ["p1@example.test", "p2@example.test"]
    [b] = [x for x in r if x["type"] == "b"]
    assert b["rcpt"] == bad and b["dsnStatus"].startswith("5.1.1")
    # `tern rotate acct` leaves the pipe alone and rotates the file
    rot = tern.cli("rotate", "acct")
    assert rot.returncode == 0, rot.stderr


def test_header_columns_and_map_header_to_field(make_tern, sink):
    """header_NAME columns carry the message's header values (unfolded,
    any case of the name); map-header-to-field overwrites a standard
    field with one, for the record types named."""
    tern = make_tern(routes={"example.test": sink}, records="d,b",
                     start=False)
    tern._config_text = tern.config_text().replace(
        "    records d,b\n", "    records d,b\n"
        "    record-fields d type,rcpt,jobId,header_x-campaign,"
        "header_Subject,header_X-Missing\n"
        "    record-fields b type,rcpt,jobId,header_X-Campaign\n"
        "    map-header-to-field d header_X-Customer jobId\n", 1)
    tern.start()
    bad = "nobody@example.test"
    sink.add_rule("RCPT", "550 5.1.1 no such user", count=None, match=bad)
    msg = make_message(subject="spring, sale", headers=(
        "X-Campaign: spring-2026\r\n\tpart-two",
        "X-Customer: cust-42"))
    tern.send(SENDER, ["yes@example.test", bad], msg,
              rcpt_options=["NOTIFY=NEVER"])
    [d] = tern.wait_acct("d", "yes@example.test")
    [b] = tern.wait_acct("b", bad)
    assert d["header_x-campaign"] == "spring-2026 part-two", d
    assert d["header_Subject"] == "spring, sale", d
    assert d["header_X-Missing"] == "", d
    assert d["jobId"] == "cust-42", d       # mapped for d rows only
    # the first spelling of a header_ column names it in the file
    assert b["header_x-campaign"] == "spring-2026 part-two", b
    assert b["jobId"] == "", b


def test_seed_logs_log_format_extended_bounce_logs_log_domain(make_tern,
                                                              sink,
                                                              tmp_path):
    """The seeds' logging directives, read back as an operator would."""
    logs = tmp_path / "logs"
    tern = make_tern(
        routes={"example.test": sink, "other.test": sink},
        domain_settings={"example.test": "log-entries yes"},
        records="d,b,t", start=False, extra=f"""
log-format-extended "{logs}/mail.log" "%ts %d %r %s %S %T %p %b %B"
bounce-log {logs}/bounce.log
bounce-category-log {logs}/bounce-category.log
log-domain {logs}/domains/%d.log
""")
    tern.start()
    good, bad, later = ("ok@example.test", "gone@example.test",
                        "busy@other.test")
    sink.add_rule("RCPT", "550 5.1.1 <gone@example.test>: no such user",
                  count=None, match=bad)
    sink.add_rule("RCPT", "451 4.2.1 try later", count=None, match=later)
    msg = make_message(to=good)
    msgid = re.search(rb"Message-ID: (<[^>]+>)", msg).group(1).decode()
    tern.send(SENDER, [good, bad, later], msg, rcpt_options=["NOTIFY=NEVER"])
    tern.wait_acct("d", good)
    tern.wait_acct("b", bad)
    tern.wait_acct("t", later)

    def lines(path):
        return [shlex.split(x) for x in path.read_text().splitlines()] \
            if path.exists() else []

    def three():
        got = lines(logs / "mail.log")
        return len(got) >= 3 and got
    got = tern.wait_for(three, scaled(20), what="mail.log lines")
    by = {f[2]: f for f in got}
    ts, dom, rcpt, status, size, secs, ip, cat, mid = by[good]
    assert abs(int(ts) - time.time()) < 600
    assert (dom, rcpt, status, ip, cat, mid) == (
        "example.test", good, "delivered", "127.0.0.1", "-", msgid)
    assert int(size) > len(msg) // 2 and int(secs) >= 0
    assert by[bad][3] == "bounced" and by[bad][7] == "bad-mailbox"
    assert by[bad][4] == "-" and by[bad][8] == msgid
    assert by[later][1] == "other.test" and by[later][3] == "deferred"

    # bounce-log: the bounces, as CSV; bounce-category-log: who and why
    _, rows = _file_rows(logs / "bounce.log")
    assert [(r["type"], r["rcpt"]) for r in rows] == [("b", bad)]
    header, rows = _file_rows(logs / "bounce-category.log")
    assert header == ("type,timeLogged,orig,rcpt,dsnStatus,dsnDiag,dsnMta,"
                      "bounceCat,vmta,queue")
    [r] = rows
    assert (r["rcpt"], r["bounceCat"]) == (bad, "bad-mailbox")
    assert r["dsnStatus"].startswith("5.1.1") and "no such user" in \
        r["dsnDiag"]

    # log-domain + log-entries: only example.test's recipients, in
    # example.test.log; other.test did not ask for it
    dlog = lines(logs / "domains" / "example.test.log")
    # "%t %s %r %e %p %m %D": the time is one quoted field
    assert sorted(x[2] for x in dlog) == sorted([good, bad]), dlog
    assert {x[1] for x in dlog} == {"delivered", "bounced"}
    assert [x[3] for x in dlog if x[2] == bad] == ["5.1.1"]
    assert not (logs / "domains" / "other.test.log").exists()


def test_bounce_log_in_virtual_mta_only_its_bounces(make_tern, sink,
                                                    tmp_path):
    """A bounce-log inside <virtual-mta> (as in the seeds) gets only that
    VMTA's bounces."""
    tern = make_tern(routes={"example.test": sink}, start=False, extra=f"""
<virtual-mta v1>
    smtp-source-host 127.0.0.1 v1.tern.test
    bounce-log {tmp_path}/bounce-v1.log
</virtual-mta>
<virtual-mta v2>
    smtp-source-host 127.0.0.1 v2.tern.test
</virtual-mta>
""")
    tern._config_text = tern.config_text().replace(
        "    always-allow-relaying yes",
        "    always-allow-relaying yes\n    process-x-virtual-mta yes", 1)
    tern.start()
    sink.add_rule("RCPT", "550 5.1.1 no such user", count=None)
    for v in ("v1", "v2"):
        tern.send(SENDER, [f"{v}@example.test"], make_message(
            headers=(f"X-Virtual-MTA: {v}",)), rcpt_options=["NOTIFY=NEVER"])
        tern.wait_acct("b", f"{v}@example.test")
    tern.wait_for(lambda: (tmp_path / "bounce-v1.log").exists() and
                  _file_rows(tmp_path / "bounce-v1.log")[1], scaled(20),
                  what="bounce-v1.log rows")
    _, rows = _file_rows(tmp_path / "bounce-v1.log")
    assert [(r["rcpt"], r["vmta"]) for r in rows] == [("v1@example.test",
                                                        "v1")]


def test_rotate_log(make_tern, sink, tmp_path):
    """log-file gets every daemon's lines; `tern rotate log` moves it to
    .1 (older ones up to log-rotate) and every daemon goes on in the new
    file."""
    log = tmp_path / "tern.log"
    tern = make_tern(routes={"example.test": sink},
                     extra=f"log-file {log}\nlog-rotate 2\n")
    tern.send(SENDER, ["one@example.test"], make_message())
    tern.wait_acct("d", "one@example.test")
    tern.wait_for(lambda: "one@example.test" in log.read_text(),
                  scaled(10), what="deliverd's line in log-file")
    r = tern.cli("rotate", "log")
    assert (r.returncode, r.stdout.strip()) == (0, "Logging file rotated.")
    assert "one@example.test" in Path(f"{log}.1").read_text()
    # queued and deliverd (children) write to the new file now
    tern.send(SENDER, ["two@example.test"], make_message())
    tern.wait_acct("d", "two@example.test")
    tern.wait_for(lambda: "two@example.test" in log.read_text(),
                  scaled(10), what="a daemon's line in the new log-file")
    assert "two@example.test" not in Path(f"{log}.1").read_text()
    for _ in range(3):
        assert tern.cli("rotate", "log").returncode == 0
    # log-rotate 2: tern.log, .1 and .2, nothing older
    assert sorted(p.name for p in tmp_path.glob("tern.log*")) == [
        "tern.log", "tern.log.1", "tern.log.2"]


def test_rotate_log_without_log_file_says_so(make_tern, sink):
    tern = make_tern(routes={"example.test": sink})
    r = tern.cli("rotate", "log")
    assert r.returncode == 1 and "no log-file" in r.stderr
