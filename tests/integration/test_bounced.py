"""bounced: accounting layouts, bounce categories and DSNs, end to end.

Every test starts the suite on its own config (conftest.make_tern) and
reads the accounting CSVs with Python's csv module by header name.
"""
import csv
import email
import io
import os
import re
import signal
import smtplib
import time
from pathlib import Path

from conftest import make_message, scaled, wait_for

SENDER = "sender@client.test"


def _rows(path: Path) -> tuple:
    """(header, rows as dicts) of a CSV file, complete lines only."""
    if not path.exists():
        return [], []
    raw = path.read_bytes()
    text = raw[:raw.rfind(b"\n") + 1].decode("utf-8")
    header = next(csv.reader(io.StringIO(text, newline="")), [])
    return header, list(csv.DictReader(io.StringIO(text, newline="")))


# ------------------------------------------------------------ record-fields

def test_record_fields_user_string_iso_times_queue_filter(make_tern, sink,
                                                          tmp_path):
    """A second <acct-file> picks its own columns per record type."""
    custom = tmp_path / "custom.csv"
    other = tmp_path / "other.csv"
    extra = f"""
<acct-file {custom}>
    records d, b
    record-fields d timeLogged,orig,rcpt,dlvSourceIp
    record-fields b *,!dsnMta,!orcpt,header_Message-Id
    user-string campaign-7
    iso-times no
</acct-file>
<acct-file {other}>
    records d, b
    queue-filter other.test
</acct-file>
"""
    tern = make_tern(routes={"example.test": sink}, extra=extra)
    good, bad = "here@example.test", "gone@example.test"
    sink.add_rule("RCPT", "550 5.1.1 <gone@example.test>: no such user",
                  count=None, match=bad)
    sent = make_message(to=good)
    tern.send(SENDER, [good, bad], sent)
    tern.wait_acct("d", good)
    tern.wait_acct("b", bad)

    def both():
        h, rows = _rows(custom)
        return {good, bad} <= {r["rcpt"] for r in rows} and (h, rows)
    header, rows = wait_for(both, scaled(20), what="rows in custom.csv")
    assert header[0] == "type"
    # the union of both types' columns, in PowerMTA's order, then
    # userString and the header_ column
    assert "dsnMta" not in header and "orcpt" not in header, header
    assert header[-2:] == ["userString", "header_Message-Id"], header
    assert header.index("timeLogged") < header.index("orig") < \
        header.index("rcpt") < header.index("bounceCat")
    [d] = [r for r in rows if r["type"] == "d" and r["rcpt"] == good]
    [b] = [r for r in rows if r["type"] == "b"]
    assert d["rcpt"] == good and d["orig"] == SENDER
    assert d["dlvSourceIp"] == "127.0.0.1"
    # d did not select these: empty even though the record has them
    assert d["dsnStatus"] == "" and d["queue"] == "", d
    assert b["rcpt"] == bad
    assert b["dsnStatus"].startswith("5.1.1"), b
    assert b["bounceCat"] == "bad-mailbox", b
    assert b["queue"].startswith("example.test/"), b
    # the message's own Message-ID (queued reads it from the spool)
    msgid = re.search(rb"Message-ID: (<[^>]+>)", sent).group(1).decode()
    assert b["header_Message-Id"] == msgid, b
    assert d["userString"] == b["userString"] == "campaign-7"
    # iso-times no: seconds since 1970
    assert d["timeLogged"].isdigit() and int(d["timeLogged"]) > 1.6e9, d
    # queue-filter other.test: nothing for example.test's queue
    assert _rows(other)[1] == []
    # the DSN about `bad` reaches the sender (the catchall) before we stop
    tern.wait_acct("d", SENDER)


# ------------------------------------------------------------ DSNs

def _dsn_for(catchall, sender: str, n: int = 1, timeout: float = 20):
    """The DSN messages catchall received for sender, parsed."""
    def got():
        msgs = [m for m in catchall.messages if sender in m.rcpt_tos]
        return len(msgs) >= n and msgs
    msgs = wait_for(got, scaled(timeout), what=f"DSN to {sender}")
    return [(m, email.message_from_bytes(m.data)) for m in msgs]


def _parts(dsn):
    """(human, delivery-status fields per recipient, returned part)."""
    assert dsn.get_content_type() == "multipart/report", dsn
    assert dsn.get_param("report-type") == "delivery-status"
    human, status, returned = dsn.get_payload()
    assert human.get_content_type() == "text/plain"
    assert status.get_content_type() == "message/delivery-status"
    # the email package gives the per-message block, then one block per
    # recipient
    blocks = status.get_payload()
    return human, blocks, returned


def test_hard_bounce_dsn_notify_ret_envid_orcpt(make_tern, sink, catchall):
    tern = make_tern(routes={"example.test": sink})
    bad = "gone@example.test"
    sink.add_rule("RCPT", "550 5.1.1 <gone@example.test>: no such user",
                  count=None, match=bad)
    msg = make_message(subject="quarterly report", to=bad)
    tern.send(SENDER, [bad], msg, mail_options=["RET=HDRS", "ENVID=env-42"],
              rcpt_options=["NOTIFY=FAILURE",
                            "ORCPT=rfc822;alias@example.test"])
    tern.wait_acct("b", bad)
    [(raw, dsn)] = _dsn_for(catchall, SENDER)
    assert raw.mail_from in ("", "<>")         # null sender
    assert "auto-replied" in dsn["Auto-Submitted"]
    human, blocks, returned = _parts(dsn)
    assert bad in human.get_payload()
    per_msg, per_rcpt = blocks[0], blocks[1]
    assert per_msg["Reporting-MTA"] == "dns; tern.test"
    assert per_msg["Original-Envelope-Id"] == "env-42"
    assert per_rcpt["Final-Recipient"] == "rfc822; " + bad
    assert per_rcpt["Original-Recipient"] == "rfc822;alias@example.test"
    assert per_rcpt["Action"] == "failed"
    assert per_rcpt["Status"] == "5.1.1"
    assert per_rcpt["Diagnostic-Code"].startswith("smtp; 550 5.1.1")
    assert per_rcpt["Remote-MTA"].startswith("dns; ")
    # RET=HDRS: the original's header only
    assert returned.get_content_type() == "text/rfc822-headers"
    text = returned.get_payload()
    assert "quarterly report" in text and "Hello." not in text
    # the DSN's own accounting: a d row to the sender, nothing more
    tern.wait_acct("d", SENDER)


def test_ret_full_returns_the_whole_message(make_tern, sink, catchall):
    tern = make_tern(routes={"example.test": sink})
    bad = "gone@example.test"
    sink.add_rule("RCPT", "550 5.1.1 no such user", count=None, match=bad)
    tern.send(SENDER, [bad], make_message(subject="full", to=bad,
                                          body="The body itself.\n"),
              mail_options=["RET=FULL"])
    [(raw, dsn)] = _dsn_for(catchall, SENDER)
    _, _, returned = _parts(dsn)
    assert returned.get_content_type() == "message/rfc822"
    [orig] = returned.get_payload()
    assert orig["Subject"] == "full"
    assert "The body itself." in orig.get_payload()
    tern.wait_acct("d", SENDER)


def test_no_dsn_for_notify_never_null_sender_or_dsn(make_tern, sink,
                                                    catchall):
    """NOTIFY=NEVER and a null sender get no DSN; and a DSN that bounces
    itself produces no DSN about the DSN (only its b row)."""
    tern = make_tern(routes={"example.test": sink,
                             "client.test": sink})
    # (a different dead recipient each time: the first bounce puts an
    # address on the suppression list)
    for n in (1, 2, 3):
        sink.add_rule("RCPT", "550 5.1.1 no such user", count=None,
                      match=f"gone{n}@example.test")
    sink.add_rule("RCPT", "550 5.1.1 no such sender mailbox", count=None,
                  match="dead@client.test")
    tern.send("a@client.test", ["gone1@example.test"],
              make_message(to="gone1@example.test"),
              rcpt_options=["NOTIFY=NEVER"])
    tern.send("", ["gone2@example.test"], make_message(to="x"))
    # the DSN to dead@client.test bounces: no DSN about it
    tern.send("dead@client.test", ["gone3@example.test"],
              make_message(to="gone3@example.test"))
    tern.wait_acct("b", "dead@client.test")   # the DSN's own bounce
    time.sleep(scaled(3))
    for n in (1, 2, 3):
        assert len(tern.acct_rows("b", f"gone{n}@example.test")) == 1
    assert len(tern.acct_rows("b", "dead@client.test")) == 1
    assert catchall.messages == []
    assert [m for m in sink.messages] == []


def test_delay_dsn_for_notify_delay_only(make_tern, sink, catchall):
    """A deferred recipient with NOTIFY=DELAY gets a delay notice once per
    notify-of-delay-every it has waited; one without DELAY gets none."""
    tern = make_tern(routes={"example.test": sink}, domain_settings={
        "example.test": "notify-of-delay-every 1s"})
    slow, quiet = "slow@example.test", "quiet@example.test"
    sink.add_rule("RCPT", "451 4.2.1 mailbox busy, try later", count=None)
    tern.send("waiting@client.test", [slow], make_message(to=slow),
              mail_options=["RET=FULL", "ENVID=env-delay"],
              rcpt_options=["NOTIFY=DELAY,FAILURE",
                            "ORCPT=rfc822;slow@example.test"])
    tern.send("patient@client.test", [quiet], make_message(to=quiet),
              rcpt_options=["NOTIFY=FAILURE"])
    [(raw, dsn)] = _dsn_for(catchall, "waiting@client.test", timeout=30)
    assert raw.mail_from in ("", "<>")           # null sender
    assert dsn["Subject"].startswith("Delayed Mail"), dsn["Subject"]
    human, blocks, returned = _parts(dsn)
    per_msg, per_rcpt = blocks[0], blocks[1]
    assert per_msg["Original-Envelope-Id"] == "env-delay"
    assert per_rcpt["Action"] == "delayed"
    assert per_rcpt["Status"] == "4.2.1"
    assert per_rcpt["Final-Recipient"] == f"rfc822; {slow}"
    assert per_rcpt["Original-Recipient"] == f"rfc822;{slow}"
    assert "451 4.2.1 mailbox busy" in per_rcpt["Diagnostic-Code"]
    assert "tried again" in human.get_payload()
    # a delay notice quotes the header only, even with RET=FULL
    assert returned.get_content_type() == "text/rfc822-headers"
    # the recipient is still queued: t rows, no b row
    assert tern.acct_rows("t", slow) and not tern.acct_rows("b", slow)
    assert [m for m in catchall.messages
            if "patient@client.test" in m.rcpt_tos] == []


# ------------------------------------------------------------ VERP, rb, f

VERP_EXTRA = """
bounce-domain bounce.test
<feedback-loop-processor>
    <address-list>
        domain fbl.test
    </address-list>
</feedback-loop-processor>
"""


def _report(to: str, report_type: str, parts: list) -> str:
    """A multipart/report message as a remote system would send it."""
    b = "=_report_boundary"
    out = [f"From: MAILER-DAEMON@mx.example.test", f"To: <{to}>",
           "Subject: report", "MIME-Version: 1.0",
           f'Content-Type: multipart/report; report-type={report_type};',
           f'\tboundary="{b}"', "", "A report."]
    for ctype, body in parts:
        out += [f"--{b}", f"Content-Type: {ctype}", "", body.strip("\n"),
                ""]
    out += [f"--{b}--", ""]
    return "\r\n".join(out)


def test_verp_round_trip_async_bounce_to_rb_row(make_tern, sink, catchall):
    tern = make_tern(routes={"example.test": sink}, records="d,b,t,rb,rs,f",
                     extra=VERP_EXTRA)
    rcpt = "joe@example.test"
    tern.send("news@client.test", [rcpt], make_message(to=rcpt))
    [got] = tern.wait_messages(sink, 1, rcpt=rcpt)
    verp = "news-joe=example.test@bounce.test"
    assert got.mail_from == verp
    tern.wait_acct("d", rcpt)

    # later, the receiver's system bounces it to the VERP address; its
    # report names an internal address, the VERP address the real one
    dsn = _report(verp, "delivery-status", [
        ("text/plain", "Sorry."),
        ("message/delivery-status",
         "Reporting-MTA: dns; mx.example.test\r\n\r\n"
         "Final-Recipient: rfc822; j.doe@store1.example.test\r\n"
         "Action: failed\r\nStatus: 5.1.1\r\n"
         "Remote-MTA: dns; store1.example.test\r\n"
         "Diagnostic-Code: smtp; 550 5.1.1 <j.doe@store1>: user unknown"),
        ("text/rfc822-headers", f"Return-Path: <{verp}>\r\nSubject: x"),
    ])
    tern.send("", [verp], dsn)
    [rb] = tern.wait_acct("rb", rcpt)
    assert rb["orig"] == verp
    assert rb["dsnStatus"].startswith("5.1.1"), rb
    assert rb["dsnDiag"].startswith("smtp;550 5.1.1"), rb
    assert rb["bounceCat"] == "bad-mailbox", rb
    assert rb["dsnMta"] == "store1.example.test", rb
    assert rb["dsnReportingMta"] == "mx.example.test", rb
    assert rb["format"] == "dsn", rb
    # the report was consumed, not relayed anywhere
    time.sleep(scaled(1))
    assert [m for m in catchall.messages if verp in m.rcpt_tos] == []


def test_verp_sender_with_dash_maps_back(make_tern, sink, catchall):
    """A '-' in the sender's local part is doubled in the VERP address, so
    the rb row names the recipient, not "letter-jean-luc"."""
    tern = make_tern(routes={"example.test": sink}, records="d,b,rb",
                     extra=VERP_EXTRA)
    rcpt = "jean-luc@example.test"
    tern.send("news-letter@client.test", [rcpt], make_message(to=rcpt))
    [got] = tern.wait_messages(sink, 1, rcpt=rcpt)
    verp = "news--letter-jean-luc=example.test@bounce.test"
    assert got.mail_from == verp
    dsn = _report(verp, "delivery-status", [
        ("text/plain", "Sorry."),
        ("message/delivery-status",
         "Reporting-MTA: dns; mx.example.test\r\n\r\n"
         "Final-Recipient: rfc822; other@store.example.test\r\n"
         "Action: failed\r\nStatus: 5.2.1\r\n"
         "Diagnostic-Code: smtp; 550 5.2.1 mailbox disabled"),
    ])
    tern.send("", [verp], dsn)
    [rb] = tern.wait_acct("rb", rcpt)
    assert rb["orig"] == verp and rb["rcpt"] == rcpt, rb
    assert rb["bounceCat"] == "inactive-mailbox", rb


def test_qmail_bounce_to_rb_row(make_tern, sink, catchall):
    tern = make_tern(routes={"example.test": sink}, records="d,b,rb",
                     extra=VERP_EXTRA)
    verp = "news-ann=example.test@bounce.test"
    text = ("From: MAILER-DAEMON@mx.example.test\r\nTo: <" + verp + ">\r\n"
            "Subject: failure notice\r\n\r\n"
            "Hi. This is the qmail-send program at mx.example.test.\r\n"
            "I'm afraid I wasn't able to deliver your message to the "
            "following addresses.\r\n\r\n"
            "<ann@example.test>:\r\n"
            "Sorry, no mailbox here by that name. (#5.1.1)\r\n")
    tern.send("", [verp], text)
    [rb] = tern.wait_acct("rb", "ann@example.test")
    assert rb["format"] == "qmail", rb
    assert rb["bounceCat"] == "bad-mailbox", rb


def test_arf_report_to_f_row(make_tern, sink, catchall):
    tern = make_tern(routes={"example.test": sink}, records="d,b,f",
                     extra=VERP_EXTRA)
    verp = "news-joe=example.test@bounce.test"
    arf = _report("fbl@fbl.test", "feedback-report", [
        ("text/plain", "This is an email abuse report."),
        ("message/feedback-report",
         "Feedback-Type: abuse\r\nUser-Agent: SomeISP-FBL/1.0\r\n"
         "Version: 1\r\nOriginal-Mail-From: <" + verp + ">\r\n"
         "Source-IP: 192.0.2.25\r\nReported-Domain: client.test"),
        ("text/rfc822-headers",
         "Return-Path: <" + verp + ">\r\nFrom: news@client.test\r\n"
         "Subject: offers"),
    ])
    tern.send("", ["fbl@fbl.test"], arf)
    [f] = tern.wait_acct("f", "joe@example.test")
    assert f["feedbackType"] == "abuse", f
    assert f["format"] == "arf", f
    assert f["userAgent"] == "SomeISP-FBL/1.0", f
    assert f["reportedDomain"] == "client.test", f
    assert f["dlvSourceIp"] == "192.0.2.25", f
    assert f["orig"] == verp, f
    assert catchall.messages == []


# ------------------------------------------------------------ suppression

def test_new_mail_waits_for_the_suppression_list(make_tern, sink):
    """queued restarts while bounced cannot answer (stopped): a message
    taken right after is held, not mailed, until bounced has sent the
    whole list; then its listed recipient bounces as suppressed and the
    other is delivered."""
    bad, good = "listed@example.test", "fine@example.test"
    t = make_tern(routes={"example.test": sink})
    t.cli("suppression", "add", bad)
    t.wait_for(lambda: bad in (t.acct.parent / "suppression.list")
               .read_text(), what="the address on the list")
    bounced = t.child_pid("bounced")
    queued = t.child_pid("queued")
    os.kill(bounced, signal.SIGSTOP)
    try:
        os.kill(queued, signal.SIGKILL)
        t.wait_for(lambda: (p := t.child_pids("queued")) and
                   queued not in p, what="queued restarted")
        def sent():
            try:
                return t.send(SENDER, [bad, good], make_message(to=good),
                              rcpt_options=["NOTIFY=NEVER"])
            except smtplib.SMTPException:
                return None     # queued not back yet: a 4xx
        t.wait_for(sent, timeout=30, what="mail accepted by the new queued")
        time.sleep(scaled(1))
        assert not sink.messages_for(good) and not sink.messages_for(bad)
    finally:
        os.kill(bounced, signal.SIGCONT)
    rows = t.wait_acct("b", bad)
    assert "suppression list" in rows[0]["dsnDiag"], rows[0]
    t.wait_messages(sink, 1, rcpt=good)
    assert not sink.messages_for(bad)


def test_suppression_blocks_next_send_and_survives_restart(make_tern, sink,
                                                           catchall):
    tern = make_tern(routes={"example.test": sink})
    bad, good = "dead@example.test", "alive@example.test"
    sink.add_rule("RCPT", "550 5.1.1 <dead@example.test>: no such user",
                  count=None, match=bad)
    # NOTIFY=NEVER: no DSNs in the way of the counts
    tern.send(SENDER, [bad], make_message(to=bad),
              rcpt_options=["NOTIFY=NEVER"])
    [first] = tern.wait_acct("b", bad)
    assert first["bounceCat"] == "bad-mailbox"
    time.sleep(scaled(1))           # bounced tells queued

    tern.send(SENDER, [bad, good], make_message(to=good),
              rcpt_options=["NOTIFY=NEVER"])
    rows = tern.wait_acct("b", bad, n=2)
    assert "suppression list" in rows[1]["dsnDiag"], rows[1]
    assert rows[1]["dsnStatus"].startswith("5.7.1"), rows[1]
    tern.wait_acct("d", good)
    # the remote never saw the second attempt
    assert len(sink.attempts("RCPT", bad)) == 1

    # the list is a file in the accounting directory, read at start
    listed = (tern.acct.parent / "suppression.list").read_text().split()
    assert bad in listed
    tern.restart()
    tern.send(SENDER, [bad], make_message(to=bad),
              rcpt_options=["NOTIFY=NEVER"])
    rows = tern.wait_acct("b", bad, n=3)
    assert "suppression list" in rows[2]["dsnDiag"], rows[2]
    assert len(sink.attempts("RCPT", bad)) == 1
