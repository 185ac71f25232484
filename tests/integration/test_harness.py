"""Tests of the test harness itself (Sink, helpers), without Tern.

They make sure a failing Tern test means Tern failed, not the fixtures.
"""

import smtplib
import socket

import pytest

from conftest import Sink, free_port, make_message, wait_for


def _send(sink, mail_from, rcpts, msg, mail_options=()):
    with smtplib.SMTP("127.0.0.1", sink.port,
                      local_hostname="client.test", timeout=10) as s:
        return s.sendmail(mail_from, rcpts, msg, mail_options=mail_options)


def test_free_port_is_bindable():
    port = free_port()
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))


def test_sink_records_message_byte_for_byte(sink):
    msg = make_message(body=".dot\n..\n.\nGrüße ✓\n" + "x" * 998 + "\nend\n")
    _send(sink, "a@client.test", ["b@example.test", "c@example.test"], msg,
          mail_options=["BODY=8BITMIME"])
    [m] = sink.wait_for_messages(1, timeout=5)
    assert m.data == msg
    assert m.mail_from == "a@client.test"
    assert m.rcpt_tos == ["b@example.test", "c@example.test"]
    assert "BODY=8BITMIME" in m.mail_options
    assert m.helo == "client.test"
    assert m.peer[0] == "127.0.0.1"
    assert sink.connections == 1
    assert len(sink.messages_for("C@example.test")) == 1


def test_sink_rcpt_rule_then_accepts(sink):
    sink.add_rule("RCPT", "550 5.1.1 no such user", count=1,
                  match="bad@example.test")
    with pytest.raises(smtplib.SMTPRecipientsRefused) as e:
        _send(sink, "a@client.test", ["bad@example.test"], make_message())
    assert e.value.recipients["bad@example.test"][0] == 550
    # a recipient the rule does not match is accepted
    _send(sink, "a@client.test", ["good@example.test"], make_message())
    # the rule was for one transaction only
    _send(sink, "a@client.test", ["bad@example.test"], make_message())
    assert len(sink.messages) == 2
    assert [e.reply[:3] for e in sink.attempts("RCPT", "bad@example.test")] \
        == ["550", "250"]


def test_sink_data_rule_temporary(sink):
    sink.add_rule("DATA", "451 4.3.0 try later", count=2)
    for _ in range(2):
        with pytest.raises(smtplib.SMTPDataError) as e:
            _send(sink, "a@client.test", ["b@example.test"], make_message())
        assert e.value.smtp_code == 451
    assert sink.messages == []
    _send(sink, "a@client.test", ["b@example.test"], make_message())
    assert len(sink.messages) == 1
    assert [e.reply[:3] for e in sink.attempts("DATA")] == ["451", "451",
                                                             "250"]


def test_sink_mail_rule_for_ever(sink):
    sink.add_rule("MAIL", "421 4.7.0 go away", count=None)
    for _ in range(3):
        with pytest.raises((smtplib.SMTPSenderRefused,
                            smtplib.SMTPServerDisconnected)):
            _send(sink, "a@client.test", ["b@example.test"], make_message())
    assert sink.messages == []


def test_sink_counts_connections_and_concurrency(sink):
    conns = [smtplib.SMTP("127.0.0.1", sink.port, timeout=10)
             for _ in range(3)]
    try:
        for c in conns:
            c.ehlo("client.test")
        wait_for(lambda: sink.concurrent == 3, 5, what="3 connections")
        # two messages over one connection
        for _ in range(2):
            conns[0].sendmail("a@client.test", ["b@example.test"],
                              make_message())
    finally:
        for c in conns:
            c.quit()
    assert sink.connections == 3
    assert sink.max_concurrent == 3
    wait_for(lambda: sink.concurrent == 0, 5, what="connections closed")
    assert len({m.conn for m in sink.messages}) == 1


def test_sink_on_given_port():
    port = free_port()
    with Sink(port=port, name="fixed") as s:
        assert s.addr == f"127.0.0.1:{port}"
        _send(s, "a@client.test", ["b@example.test"], make_message())
        assert len(s.messages) == 1
    # stopped: nothing listens any more
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


def test_wait_for_times_out():
    with pytest.raises(AssertionError, match="nothing"):
        wait_for(lambda: False, 0.3, what="nothing")
    assert wait_for(lambda: 42, 1) == 42
