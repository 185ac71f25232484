"""bounced: the suppression list managed with `tern suppression`, global
and per VMTA, enforced as b rows or refused at RCPT (suppression-action).

Everything goes through the real daemons, the CLI and a sink; the
accounting file is read with csv by header name (conftest.Tern).
"""
import smtplib
import time

import pytest

from conftest import LOOPBACK, make_message, scaled

SENDER = "sender@client.test"

VMTAS = """<virtual-mta v1>
    smtp-source-host 127.0.0.1 v1.tern.test
</virtual-mta>
<virtual-mta v2>
    smtp-source-host 127.0.0.1 v2.tern.test
</virtual-mta>
"""


def _cli_ok(tern, *args) -> str:
    r = tern.cli(*args)
    assert r.returncode == 0, (args, r.stdout, r.stderr)
    return r.stdout


def _listed(tern) -> list:
    """(address, vmta) pairs `tern suppression list --json` gives."""
    import json
    out = _cli_ok(tern, "--json", "suppression", "list")
    return sorted((e["address"], e["vmta"]) for e in json.loads(out))


def _wait_listed(tern, entry, present=True):
    return tern.wait_for(lambda: (entry in _listed(tern)) == present,
                         scaled(10), what=f"{entry} listed={present}")


def test_cli_add_blocks_next_send_remove_delivers_again(make_tern, sink):
    tern = make_tern(routes={"example.test": sink})
    addr = "Carol@Example.test"
    out = _cli_ok(tern, "suppression", "add", addr)
    assert "carol@example.test suppressed" in out, out
    _wait_listed(tern, ("carol@example.test", "*"))
    # human listing: a table with the address
    table = _cli_ok(tern, "show", "suppression")
    assert "carol@example.test" in table and "1 suppressed address" in table
    time.sleep(scaled(0.5))             # bounced -> queued -> smtpd

    tern.send(SENDER, [addr], make_message(to=addr),
              rcpt_options=["NOTIFY=NEVER"])
    [b] = tern.wait_acct("b", addr)
    assert b["dsnStatus"].startswith("5.7.1"), b
    assert b["dsnDiag"] == ('smtp;550 5.7.1 recipient is in suppression '
                            'list "global": <Carol@Example.test>'), b
    assert sink.attempts("RCPT", "carol@example.test") == []

    out = _cli_ok(tern, "suppression", "remove", "carol@example.test")
    assert "removed" in out, out
    _wait_listed(tern, ("carol@example.test", "*"), present=False)
    time.sleep(scaled(0.5))
    tern.send(SENDER, [addr], make_message(to=addr))
    tern.wait_acct("d", addr)
    tern.wait_messages(sink, 1, rcpt=addr)

    # removing what is not there, or a non-address, fails (exit 1)
    r = tern.cli("suppression", "remove", "carol@example.test")
    assert r.returncode == 1 and "not on the suppression list" in r.stderr
    r = tern.cli("suppression", "add", "no-at-sign")
    assert r.returncode == 1 and "not an address" in r.stderr
    r = tern.cli("suppression", "add")
    assert r.returncode == 2

    # the file is a log of changes; the removal survives a restart
    lines = (tern.acct.parent / "suppression.list").read_text().split("\n")
    assert lines[:2] == ["carol@example.test", "!carol@example.test"]
    tern.restart()
    assert _listed(tern) == []


def test_per_vmta_list_blocks_only_that_vmta(make_tern, sink):
    tern = make_tern(routes={"example.test": sink}, extra=VMTAS, start=False)
    tern._config_text = tern.config_text().replace(
        "    always-allow-relaying yes",
        "    always-allow-relaying yes\n    process-x-virtual-mta yes", 1)
    tern.start()
    addr = "dave@example.test"
    _cli_ok(tern, "suppression", "add", "--vmta", "v1", addr)
    r = tern.cli("suppression", "add", "--vmta=nope", addr)
    assert r.returncode == 1 and 'unknown virtual-mta "nope"' in r.stderr
    _wait_listed(tern, (addr, "v1"))
    out = _cli_ok(tern, "suppression", "list", "--vmta=v1")
    assert addr in out and "v1" in out
    time.sleep(scaled(0.5))

    tern.send(SENDER, [addr], make_message(
        to=addr, headers=("X-Virtual-MTA: v1",)),
        rcpt_options=["NOTIFY=NEVER"])
    [b] = tern.wait_acct("b", addr)
    assert 'suppression list "v1"' in b["dsnDiag"], b
    assert b["vmta"] == "v1", b
    tern.send(SENDER, [addr], make_message(
        to=addr, headers=("X-Virtual-MTA: v2",)))
    [d] = tern.wait_acct("d", addr)
    assert d["vmta"] == "v2", d
    [got] = tern.wait_messages(sink, 1, rcpt=addr)
    assert got.helo == "v2.tern.test"
    # the entry is in the file with its VMTA, and comes back at restart
    sup = tern.acct.parent / "suppression.list"
    tern.wait_for(lambda: sup.read_text() == f"{addr} v1\n", scaled(10),
                  what="the entry in suppression.list")
    tern.restart()
    assert _listed(tern) == [(addr, "v1")]


def test_suppression_action_reject_refuses_at_rcpt(make_tern, sink):
    tern = make_tern(routes={"example.test": sink}, start=False)
    tern._config_text = tern.config_text().replace(
        "    always-allow-relaying yes",
        "    always-allow-relaying yes\n    suppression-action reject", 1)
    tern.start()
    bad, good = "erin@example.test", "frank@example.test"
    _cli_ok(tern, "suppression", "add", bad)

    def refused():
        with smtplib.SMTP(LOOPBACK, tern.smtp_port, timeout=10) as s:
            s.ehlo("client.test")
            s.mail(SENDER)
            code, msg = s.rcpt(bad)
            s.rset()
            return code == 550 and (code, msg.decode())
    code, msg = tern.wait_for(refused, scaled(10), what="550 at RCPT")
    assert msg == f'5.7.1 recipient is in suppression list "global": <{bad}>'
    # the other recipients of the transaction go on
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        tern.send(SENDER, [bad], make_message(to=bad))
    tern.send(SENDER, [good], make_message(to=good))
    tern.wait_acct("d", good)
    # refused before queueing: no row for it at all
    assert tern.acct_rows(rcpt=bad) == []


def test_soft_bounces_past_bounce_after_suppress(make_tern, sink):
    """permanent-bounce-after (bounce-after): a recipient that got 4xx
    replies until it expired goes on the list; an expiry after connection
    failures does not."""
    tern = make_tern(routes={"example.test": sink}, retry_after="1s",
                     domain_settings={"example.test": "bounce-after 3s",
                                      "down.test": "bounce-after 3s\n"
                                      "route 127.0.0.1:1"})
    soft, down = "full@example.test", "someone@down.test"
    sink.add_rule("RCPT", "452 4.2.2 mailbox full", count=None, match=soft)
    tern.send(SENDER, [soft], make_message(to=soft),
              rcpt_options=["NOTIFY=NEVER"])
    tern.send(SENDER, [down], make_message(to=down),
              rcpt_options=["NOTIFY=NEVER"])
    [b] = tern.wait_acct("b", soft, timeout=40)
    assert b["dsnStatus"].startswith("4.4.7"), b
    tern.wait_acct("b", down, timeout=40)
    _wait_listed(tern, (soft, "*"))
    assert (down, "*") not in _listed(tern)
