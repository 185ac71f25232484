"""deliverd: limits, as the receiver sees them on the wire.

No assertion depends on the machine being fast: rates are checked as
upper bounds over a window (a slow machine only delivers fewer).
"""

import json
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


# --- max-smtp-out across queues (and deliverd workers) ---

def _with_x_vmta(t):
    """Let X-Virtual-MTA pick the VMTA, then start."""
    t._config_text = t.config_text().replace(
        "    always-allow-relaying yes",
        "    always-allow-relaying yes\n    process-x-virtual-mta yes", 1)
    t.start()


def _send_both(t, n, vmta=None):
    """n messages to each of a.test and b.test (one connection), held
    until all are queued."""
    headers = (f"X-Virtual-MTA: {vmta}",) if vmta else ()
    v = vmta or "{default}"
    with t.held(f"a.test/{v}", f"b.test/{v}"), t.smtp() as s:
        for i in range(n):
            for d in ("a.test", "b.test"):
                t.send_on(s, SENDER, [f"r{i}@{d}"],
                          make_message(headers=headers))


def test_vmta_max_smtp_out_is_shared_by_its_domains(make_tern, sink):
    """<virtual-mta v1> max-smtp-out 2: two domains that may each have 5
    connections, in two deliverd workers, never have more than 2 at once
    together, and the receiver does see 2; all mail arrives."""
    vmta = ("<virtual-mta v1>\n"
            "    max-smtp-out 2\n"
            "</virtual-mta>\n")
    t = make_tern(routes={"a.test": sink, "b.test": sink},
                  domain_settings={"a.test": "max-smtp-out 5",
                                   "b.test": "max-smtp-out 5"},
                  deliverd_processes=2, extra=vmta, start=False)
    _with_x_vmta(t)
    _send_both(t, 8, vmta="v1")
    t.wait_for(lambda: len(t.acct_rows("d")) >= 16, timeout=60,
               what="16 deliveries")
    assert sink.max_concurrent == 2
    rows = t.acct_rows("d")
    assert {r["vmta"] for r in rows} == {"v1"}
    assert {r["rcpt"].split("@")[1] for r in rows} == {"a.test", "b.test"}


def test_total_max_smtp_out_spans_every_queue(make_tern, sink):
    """total-max-smtp-out 3: two domains allowed 5 each stay within 3
    connections at once, all told."""
    t = make_tern(routes={"a.test": sink, "b.test": sink},
                  domain_settings={"a.test": "max-smtp-out 5",
                                   "b.test": "max-smtp-out 5"},
                  deliverd_processes=2, extra="total-max-smtp-out 3\n")
    _send_both(t, 8)
    t.wait_for(lambda: len(t.acct_rows("d")) >= 16, timeout=60,
               what="16 deliveries")
    assert sink.max_concurrent == 3


def test_source_pool_max_smtp_out_spans_vmtas(make_tern, sink):
    """<source-pool CIDR> max-smtp-out 2: two VMTAs sending from that
    range (each allowed 10) have 2 connections from it at most."""
    extra = ("<source-pool 127.0.0.80/30>\n"
             "    max-smtp-out 2\n"
             "</source-pool>\n"
             "<virtual-mta p1>\n    source-pool 127.0.0.80/30\n"
             "</virtual-mta>\n"
             "<virtual-mta p2>\n    source-pool 127.0.0.80/30\n"
             "</virtual-mta>\n")
    t = make_tern(routes={"a.test": sink},
                  domain_settings={"a.test": "max-smtp-out 10"},
                  deliverd_processes=2, extra=extra, start=False)
    _with_x_vmta(t)
    with t.held("a.test/p1", "a.test/p2"), t.smtp() as s:
        for i in range(12):
            t.send_on(s, SENDER, [f"r{i}@a.test"], make_message(
                headers=(f"X-Virtual-MTA: p{1 + i % 2}",)))
    t.wait_for(lambda: len(t.acct_rows("d")) >= 12, timeout=60,
               what="12 deliveries")
    assert sink.max_concurrent == 2
    assert {m.peer[0] for m in sink.messages} <= {"127.0.0.81",
                                                  "127.0.0.82"}
    assert {r["vmta"] for r in t.acct_rows("d")} == {"p1", "p2"}


def test_source_ip_max_smtp_out(make_tern, sink):
    """The seeds' max-smtp-out-per-ip 1 (source-ip-max-smtp-out): with two
    source addresses a queue allowed 6 connections has 2, one per
    address."""
    t = make_tern(routes={"a.test": sink},
                  domain_settings={"a.test": "max-smtp-out 6\n"
                                   "max-smtp-out-per-ip 1"},
                  extra="smtp-source-host 127.0.0.91\n"
                        "smtp-source-host 127.0.0.92\n")
    with t.held("a.test/{default}"), t.smtp() as s:
        for i in range(10):
            t.send_on(s, SENDER, [f"r{i}@a.test"], make_message())
    t.wait_for(lambda: len(t.acct_rows("d")) >= 10, timeout=60,
               what="10 deliveries")
    assert sink.max_concurrent == 2
    assert {m.peer[0] for m in sink.messages} == {"127.0.0.91",
                                                  "127.0.0.92"}


# --- what show queues says about connections and limits ---

def _queue(t, name):
    r = t.cli("--json", "show", "queues")
    assert r.returncode == 0, r.stderr
    for q in json.loads(r.stdout):
        if q["queue"] == name:
            return q
    return None


def test_show_queues_connections_and_limits(make_tern, sink):
    """`tern show queues` shows deliverd's open connections of a queue
    (up to its max-smtp-out 3 while they are busy or idle, 0 once they
    closed), its max-smtp-out and its max-msg-rate."""
    t = make_tern(routes={"a.test": sink},
                  domain_settings={"a.test": "max-smtp-out 3\n"
                                   "max-msg-rate 36000/h"})
    with t.smtp() as s:
        for i in range(9):
            t.send_on(s, SENDER, [f"r{i}@a.test"], make_message())
    name = "a.test/{default}"
    seen = []

    def open_conns():
        q = _queue(t, name)
        if q is not None:
            seen.append(q["connections"])
        return q if q and q["connections"] >= 1 else None
    q = t.wait_for(open_conns, what="connections shown")
    assert q["maxSmtpOut"] == 3 and q["msgRate"] == "36000/h"
    t.wait_for(lambda: len(t.acct_rows("d")) >= 9, what="9 deliveries")
    # idle connections close after a few seconds: then none is shown
    t.wait_for(lambda: _queue(t, name)["connections"] == 0, timeout=30,
               what="connections back to 0")
    assert max(seen) <= 3
    text = t.cli("show", "queues").stdout
    head = text.splitlines()[0].split()
    assert "conn" in head and "max-out" in head and "rate" in head
    assert "36000/h" in text
