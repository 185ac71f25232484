"""deliverd: limits, as the receiver sees them on the wire.

No assertion depends on the machine being fast: rates are checked as
upper bounds over a window (a slow machine only delivers fewer).
"""

import time

from conftest import make_message, scaled

SENDER = "sender@client.test"


def test_max_smtp_out_bounds_concurrent_connections(make_tern, sink):
    """max-smtp-out 2: the receiver never sees more than 2 at once."""
    sink.add_rule("DATA", "250 2.0.0 slow ok", count=None)
    t = make_tern(routes={"example.test": sink},
                  domain_settings={"example.test": "max-smtp-out 2"})
    with t.smtp() as s:
        for i in range(12):
            t.send_on(s, SENDER, [f"r{i}@example.test"], make_message())
    t.wait_for(lambda: len(t.acct_rows("d")) >= 12, what="12 deliveries")
    assert 1 <= sink.max_concurrent <= 2


def test_max_rcpt_per_message_splits_transactions(make_tern, sink):
    """max-rcpt-per-message 2: five recipients of one message arrive in
    three transactions of at most two, all delivered."""
    t = make_tern(routes={"example.test": sink},
                  domain_settings={"example.test": "max-rcpt-per-message 2"})
    rcpts = [f"r{i}@example.test" for i in range(5)]
    t.send(SENDER, rcpts, make_message())
    t.wait_for(lambda: len(t.acct_rows("d")) >= 5, what="5 d rows")
    msgs = t.wait_messages(sink, 3)
    assert len(msgs) == 3
    assert all(len(m.rcpt_tos) <= 2 for m in msgs)
    assert sorted(r for m in msgs for r in m.rcpt_tos) == sorted(rcpts)
    # one connection carried them all
    assert len({m.conn for m in msgs}) == 1


def test_max_rcpt_per_transaction_one_rcpt_refused(make_tern, sink):
    """Splitting keeps per-recipient outcomes: a refused recipient in
    the second transaction bounces alone."""
    sink.add_rule("RCPT", "550 5.1.1 no such user", match="r2@example.test")
    t = make_tern(routes={"example.test": sink},
                  domain_settings={"example.test":
                                   "max-rcpt-per-transaction 2"})
    rcpts = [f"r{i}@example.test" for i in range(4)]
    t.send(SENDER, rcpts, make_message())
    t.wait_for(lambda: len(t.acct_rows("d")) >= 3, what="3 d rows")
    assert t.wait_acct("b", "r2@example.test")[0]["dsnStatus"] \
        .startswith("5.1.1")


def test_max_msg_per_connection(make_tern, sink):
    """max-msg-per-connection 2: six messages need at least 3
    connections, none carries more than 2."""
    t = make_tern(routes={"example.test": sink}, deliverd_processes=1,
                  domain_settings={"example.test":
                                   "max-msg-per-connection 2\n"
                                   "max-smtp-out 1"})
    with t.smtp() as s:
        for i in range(6):
            t.send_on(s, SENDER, [f"r{i}@example.test"], make_message())
    msgs = t.wait_messages(sink, 6)
    per_conn = {}
    for m in msgs:
        per_conn[m.conn] = per_conn.get(m.conn, 0) + 1
    assert max(per_conn.values()) <= 2
    assert len(per_conn) >= 3


def test_max_msg_rate(make_tern, sink):
    """max-msg-rate 60/m (one a second): of 8 messages queued at once, no
    more than 4 arrive within the first 2 seconds; all arrive."""
    t = make_tern(routes={"example.test": sink},
                  domain_settings={"example.test": "max-msg-rate 60/m"})
    with t.smtp() as s:
        for i in range(8):
            t.send_on(s, SENDER, [f"r{i}@example.test"], make_message())
    t.wait_messages(sink, 1)
    first = min(m.when for m in sink.messages)
    t.wait_messages(sink, 8, timeout=30)
    early = [m for m in sink.messages if m.when - first < 2.0]
    assert len(early) <= 4, [m.when - first for m in sink.messages]


def test_max_connect_rate(make_tern, sink):
    """max-connect-rate 60/m with one message per connection: connections
    are spread (at most 4 in the first 2 s), and all mail arrives."""
    t = make_tern(routes={"example.test": sink},
                  domain_settings={"example.test":
                                   "max-connect-rate 60/m\n"
                                   "max-msg-per-connection 1"})
    with t.smtp() as s:
        for i in range(6):
            t.send_on(s, SENDER, [f"r{i}@example.test"], make_message())
    t.wait_messages(sink, 1)
    first = min(m.when for m in sink.messages)
    t.wait_messages(sink, 6, timeout=30)
    early = [m for m in sink.messages if m.when - first < 2.0]
    assert len(early) <= 4
    assert sink.connections >= 6


def test_delivery_interval(make_tern, sink):
    """delivery-interval 1s: connections at least a second apart, so of
    5 one-message connections at most 3 fall in the first 2 s."""
    t = make_tern(routes={"example.test": sink},
                  domain_settings={"example.test":
                                   "delivery-interval 1s\n"
                                   "max-msg-per-connection 1"})
    with t.smtp() as s:
        for i in range(5):
            t.send_on(s, SENDER, [f"r{i}@example.test"], make_message())
    t.wait_messages(sink, 1)
    first = min(m.when for m in sink.messages)
    t.wait_messages(sink, 5, timeout=30)
    early = [m for m in sink.messages if m.when - first < 2.0]
    assert len(early) <= 3


def test_max_message_size_bounces_without_connecting(make_tern, sink):
    """A message over the domain's max-message-size: b row, 5.3.4, and
    the receiver is never contacted; smaller ones still go."""
    t = make_tern(routes={"example.test": sink},
                  domain_settings={"example.test": "max-message-size 2k"})
    t.send(SENDER, ["big@example.test"],
           make_message(body="x" * 70 + "\n" * 1 + ("y" * 70 + "\n") * 60))
    row = t.wait_acct("b", "big@example.test")[0]
    assert row["dsnStatus"].startswith("5.3.4")
    assert "max-message-size" in row["dsnDiag"]
    assert sink.connections == 0
    t.send(SENDER, ["small@example.test"], make_message())
    t.wait_messages(sink, 1, rcpt="small@example.test")
