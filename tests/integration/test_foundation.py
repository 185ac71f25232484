"""The Foundation issue's end-to-end promises, on the real suite.

Every test starts ternd on its own config (conftest.Tern): SMTP on a free
port of 127.0.0.1, spool/accounting/control socket in tmp_path,
`retry-after 2s`, example.test routed to the `sink` fixture, everything
else (<domain *>) to the `catchall` sink.
"""

import os
import re
import signal
import subprocess
import time
from datetime import datetime
from pathlib import Path

import pytest

from conftest import (ACCT_DBT_FIELDS, REPO, Sink, free_port, make_message,
                      scaled)

SENDER = "sender@client.test"
ISO_TIME = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d[+-]\d{4}$")


def _acct_time(value: str) -> datetime:
    assert ISO_TIME.match(value), f"not an ISO accounting time: {value!r}"
    return datetime.strptime(value, "%Y-%m-%d %H:%M:%S%z")


def _strip_first_received(data: bytes) -> bytes:
    """The message minus its first header, which must be a Received:
    (with its folded continuation lines)."""
    assert data[:9].lower() == b"received:", \
        f"first header is not Received: {data[:80]!r}"
    lines = data.split(b"\r\n")
    i = 1
    while i < len(lines) and lines[i][:1] in (b" ", b"\t"):
        i += 1
    return b"\r\n".join(lines[i:])


def _crlf(data: bytes) -> bytes:
    return data.replace(b"\r\n", b"\n")


def _settle(seconds: float):
    """Time for something that should not happen (a retry, a duplicate) to
    show up.  The daemons' timers do not slow down under a sanitizer as much
    as the waits for things that must happen, so scale at most by 1.5."""
    time.sleep(seconds * min(scaled(1), 1.5))


# ------------------------------------------------------------ the message

TRICKY_BODY = "\n".join([
    "This message checks that Tern relays the body untouched.",
    ".a line that starts with a dot",
    "..",
    ".",
    "...three dots",
    ". dot space",
    "From the beginning of a line (no mbox quoting, please)",
    "trailing spaces   ",
    "\ttab first, tab\tinside",
    "",
    "",
    "two empty lines above, 8-bit UTF-8 below:",
    "Grüße aus Köln — 日本語のテキスト ✓ ½ €",
    "x" * 998,
    "." + "y" * 900,
    "=?not-encoded?= =3D <>&;\"'`",
    "last line",
]) + "\n"


def test_message_arrives_intact(tern, sink):
    """Byte for byte apart from the one Received: header Tern adds."""
    rcpt = "intact@example.test"
    msg = make_message(subject="intact ✓ test", body=TRICKY_BODY, to=rcpt,
                       headers=("MIME-Version: 1.0",
                                "Content-Type: text/plain; charset=utf-8",
                                "Content-Transfer-Encoding: 8bit",
                                "X-Folded: first part",
                                "\tsecond part of the folded header"))
    reply = tern.send(SENDER, [rcpt], msg, mail_options=["BODY=8BITMIME"])
    assert reply  # 250 text

    [got] = tern.wait_messages(sink, 1, rcpt=rcpt)
    assert got.mail_from == SENDER
    assert [r.lower() for r in got.rcpt_tos] == [rcpt]
    body = _strip_first_received(got.data)
    assert _crlf(body) == _crlf(msg), "message changed in transit"
    # one Received: header added, not more
    assert got.data.lower().count(b"\r\nreceived:") == \
        msg.lower().count(b"\r\nreceived:")


def test_8bit_message_is_sent_with_body_8bitmime(tern, sink):
    """An 8-bit body received with BODY=8BITMIME goes on with BODY=8BITMIME
    (the sink offers 8BITMIME)."""
    rcpt = "eightbit@example.test"
    msg = make_message(body="Grüße ✓\n", to=rcpt)
    tern.send(SENDER, [rcpt], msg, mail_options=["BODY=8BITMIME"])
    [got] = tern.wait_messages(sink, 1, rcpt=rcpt)
    assert "BODY=8BITMIME" in [o.upper() for o in got.mail_options]


# ------------------------------------------------------------ accounting

def test_delivery_writes_d_row(tern, sink):
    rcpt = "someone@example.test"
    t0 = time.time()
    tern.send(SENDER, [rcpt], make_message(to=rcpt))
    tern.wait_messages(sink, 1, rcpt=rcpt)
    [row] = tern.wait_acct("d", rcpt)

    header = tern.acct_header()
    assert header and header[0] == "type", header
    missing = [f for f in ACCT_DBT_FIELDS if f not in header]
    assert not missing, f"accounting header lacks {missing}: {header}"

    assert row["type"] == "d"
    assert row["orig"] == SENDER
    assert row["rcpt"] == rcpt
    assert row["dsnAction"] in ("relayed", "delivered"), row
    assert row["dsnStatus"].startswith("2.0.0"), row
    assert row["dsnDiag"].startswith("smtp;250"), row
    assert "127.0.0.1" in row["dsnMta"], row
    assert row["dlvSourceIp"] == "127.0.0.1", row
    assert row["dlvDestinationIp"] == "127.0.0.1", row
    assert row["dlvType"] in ("", "smtp"), row
    assert row["srcType"] in ("", "smtp"), row
    assert row["queue"].startswith("example.test/"), row
    logged, queued = _acct_time(row["timeLogged"]), \
        _acct_time(row["timeQueued"])
    assert queued <= logged
    assert abs(logged.timestamp() - t0) < scaled(60)
    # one row for one delivery
    _settle(1)
    assert len(tern.acct_rows("d", rcpt)) == 1
    assert tern.acct_rows("b", rcpt) == []


def test_5xx_gives_b_row_and_no_retry(tern, sink):
    rcpt = "nobody@example.test"
    sink.add_rule("RCPT", "550 5.1.1 <nobody@example.test>: no such user",
                  count=None, match=rcpt)
    tern.send(SENDER, [rcpt], make_message(to=rcpt))
    [row] = tern.wait_acct("b", rcpt)
    assert row["orig"] == SENDER
    assert row["dsnAction"] == "failed", row
    assert row["dsnStatus"].startswith("5.1.1"), row
    assert row["dsnDiag"].startswith("smtp;550 5.1.1"), row
    assert row["bounceCat"] == "bad-mailbox", row
    _acct_time(row["timeLogged"])

    # several retry intervals later: still one attempt, no delivery
    _settle(6)
    tern.check_alive()
    assert len(sink.attempts("RCPT", rcpt)) == 1, sink.attempts("RCPT")
    assert sink.messages_for(rcpt) == []
    assert len(tern.acct_rows("b", rcpt)) == 1
    assert tern.acct_rows("d", rcpt) == []


def test_5xx_for_one_of_two_recipients(tern, sink):
    bad, good = "gone@example.test", "here@example.test"
    sink.add_rule("RCPT", "550 5.1.1 no such user", count=None, match=bad)
    tern.send(SENDER, [bad, good], make_message(to=good))
    tern.wait_acct("b", bad)
    tern.wait_acct("d", good)
    [got] = tern.wait_messages(sink, 1, rcpt=good)
    assert [r.lower() for r in got.rcpt_tos] == [good]
    _settle(5)
    assert len(sink.messages_for(good)) == 1
    assert len(sink.attempts("RCPT", bad)) == 1


@pytest.mark.parametrize("stage", ["RCPT", "DATA"])
def test_4xx_then_250_delivers_after_retry(tern, sink, stage):
    rcpt = f"later-{stage.lower()}@example.test"
    sink.add_rule(stage, "451 4.3.0 try again later", count=1, match=rcpt)
    tern.send(SENDER, [rcpt], make_message(to=rcpt))

    [d] = tern.wait_acct("d", rcpt, timeout=30)
    [t] = tern.wait_acct("t", rcpt)          # records d,b,t
    assert t["dsnAction"] == "delayed", t
    assert t["dsnStatus"].startswith("4.3.0"), t
    assert t["dsnDiag"].startswith("smtp;451 4.3.0"), t
    assert _acct_time(t["timeLogged"]) <= _acct_time(d["timeLogged"])
    assert d["dsnStatus"].startswith("2.0.0"), d

    attempts = sink.attempts(stage, rcpt)
    assert [a.reply[:3] for a in attempts] == ["451", "250"], attempts
    _settle(5)
    assert len(sink.messages_for(rcpt)) == 1
    assert len(tern.acct_rows("d", rcpt)) == 1
    assert tern.acct_rows("b", rcpt) == []


# ------------------------------------------------------------ crashes

def test_sigkill_queued_after_250_delivers_exactly_once(tern, sink):
    """queued dies right after it let smtpd say 250; ternd restarts it and
    the message is delivered once, with one d row."""
    rcpt = "survivor@example.test"
    old = tern.child_pid("queued")
    tern.send(SENDER, [rcpt], make_message(to=rcpt))
    os.kill(old, signal.SIGKILL)

    new = tern.wait_for(lambda: [p for p in tern.child_pids("queued")
                                 if p != old],
                        what="ternd to restart queued")
    assert len(new) == 1, new
    tern.wait_messages(sink, 1, rcpt=rcpt, timeout=40)
    tern.wait_acct("d", rcpt, timeout=30)
    _settle(6)
    assert len(sink.messages_for(rcpt)) == 1, "delivered more than once"
    assert len(tern.acct_rows("d", rcpt)) == 1, tern.acct_rows(rcpt=rcpt)


def test_restart_of_suite_loses_nothing(make_tern, catchall):
    """A message queued for an unreachable destination survives a stop and
    start of the whole suite, and is delivered once the route works."""
    rcpt = "patient@paused.test"
    closed = free_port()        # nothing listens there
    tern = make_tern(routes={"paused.test": closed})
    tern.send(SENDER, [rcpt], make_message(to=rcpt))
    _settle(3)                  # at least one failed attempt
    assert tern.acct_rows("d", rcpt) == []
    assert tern.stop() == 0

    with Sink(name="late") as late:
        tern.set_route("paused.test", late)
        tern.start()
        tern.wait_messages(late, 1, rcpt=rcpt, timeout=30)
        tern.wait_acct("d", rcpt)
        _settle(4)
        assert len(late.messages_for(rcpt)) == 1
    assert tern.acct_rows("b", rcpt) == []


# ------------------------------------------------------------ clients

def test_swaks_delivers(tern, sink):
    rcpt = "someone@example.test"
    r = subprocess.run(
        ["swaks", "--server", f"127.0.0.1:{tern.smtp_port}", "--to", rcpt,
         "--from", "a@b.test", "--timeout", "30"],
        stdin=subprocess.DEVNULL, capture_output=True, text=True,
        timeout=scaled(60))
    assert r.returncode == 0, r.stdout + r.stderr
    [got] = tern.wait_messages(sink, 1, rcpt=rcpt)
    assert got.mail_from == "a@b.test"
    [row] = tern.wait_acct("d", rcpt)
    assert row["orig"] == "a@b.test"


def test_several_messages_reuse_connections(make_tern, sink):
    """Ten messages injected over one connection, for a domain limited to
    two connections at a time (max-smtp-out 2): they all arrive, over
    connections that each carried several messages."""
    n = 10
    tern = make_tern(routes={"example.test": sink},
                     domain_settings={"example.test": "max-smtp-out 2"})
    rcpts = [f"reuse{i}@example.test" for i in range(n)]
    with tern.smtp() as s:
        for r in rcpts:
            tern.send_on(s, SENDER, [r], make_message(to=r))
    msgs = tern.wait_messages(sink, n, timeout=30)
    got = sorted(r.lower() for m in msgs for r in m.rcpt_tos)
    assert got == sorted(rcpts)
    conns = {m.conn for m in msgs}
    assert len(conns) < n, f"{len(conns)} connections for {n} messages"
    assert sink.max_concurrent <= 2, \
        f"{sink.max_concurrent} connections at once with max-smtp-out 2"
    for r in rcpts:
        tern.wait_acct("d", r)


# ------------------------------------------------------------ quick start

def test_quickstart_config(tern_build, tmp_path):
    """etc/tern-local.conf as shipped (only its two ports changed): a message
    to example.test goes to the receiver on the routed port, and a `d` row
    lands in run/acct.csv next to etc/."""
    from conftest import Tern
    text = (REPO / "etc" / "tern-local.conf").read_text()
    assert "127.0.0.1:2525" in text and "127.0.0.1:2526" in text
    port = free_port()
    with Sink(name="receiver") as rcv:
        text = text.replace("127.0.0.1:2525", f"127.0.0.1:{port}") \
                   .replace("127.0.0.1:2526", rcv.addr)
        (tmp_path / "etc").mkdir()
        (tmp_path / "run").mkdir()
        conf = tmp_path / "etc" / "tern-local.conf"
        conf.write_text(text)
        t = Tern(tern_build, tmp_path / "work", config_text=text,
                 conf_path=conf, smtp_port=port,
                 acct_path=tmp_path / "run" / "acct.csv",
                 control_path=tmp_path / "run" / "control.sock")
        try:
            t.start()
            r = subprocess.run(
                ["swaks", "--server", f"127.0.0.1:{port}",
                 "--to", "someone@example.test", "--timeout", "30"],
                stdin=subprocess.DEVNULL, capture_output=True, text=True,
                timeout=scaled(60))
            assert r.returncode == 0, r.stdout + r.stderr
            t.wait_messages(rcv, 1, rcpt="someone@example.test")
            t.wait_acct("d", "someone@example.test")
            assert (tmp_path / "run" / "spool").is_dir()
        finally:
            problems = t.shutdown()
        assert not problems, "\n".join(problems)


def test_quickstart_config_is_valid(tern_build):
    r = subprocess.run(
        [str(tern_build / "ternd" / "ternd"), "-n", "-f",
         str(REPO / "etc" / "tern-local.conf")],
        stdin=subprocess.DEVNULL, capture_output=True, text=True,
        timeout=scaled(30))
    assert r.returncode == 0, r.stdout + r.stderr


# ------------------------------------------------------------ config check

BAD_CONF = """\
# two errors: an unknown directive (line 3) and a bad time (line 6)
host-name tern.test
frobnicate-the-widgets yes
smtp-listener 127.0.0.1:{port}
<domain *>
    retry-after soon
</domain>
"""


def _configs(make_tern, tmp_path):
    good = make_tern(name="good", start=False)
    good.write_config()
    bad = tmp_path / "bad.conf"
    bad.write_text(BAD_CONF.format(port=free_port()))
    return good, bad


def _assert_errors_reported(r, path: Path):
    out = r.stdout + r.stderr
    assert r.returncode == 1, f"exit {r.returncode}\n{out}"
    for line in (3, 6):
        pat = rf"(^|[\s/]){re.escape(path.name)}:{line}: \S"
        assert re.search(pat, out, re.M), \
            f"no '{path.name}:{line}: message' in output:\n{out}"


def test_ternd_n_checks_config(make_tern, tern_build, tmp_path):
    good, bad = _configs(make_tern, tmp_path)
    ternd = str(tern_build / "ternd" / "ternd")
    r = subprocess.run([ternd, "-n", "-f", str(good.conf)],
                       stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, timeout=scaled(30))
    assert r.returncode == 0, r.stdout + r.stderr
    r = subprocess.run([ternd, "-n", "-f", str(bad)],
                       stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, timeout=scaled(30))
    _assert_errors_reported(r, bad)


def test_cli_check_config(make_tern, tmp_path):
    good, bad = _configs(make_tern, tmp_path)
    r = good.cli("check-config", good.conf, conf=False)
    assert r.returncode == 0, r.stdout + r.stderr
    r = good.cli("check-config", bad, conf=False)
    _assert_errors_reported(r, bad)
