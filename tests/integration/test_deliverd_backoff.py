"""deliverd: backoff mode, entered on reply patterns or many soft
bounces (the seeds' adaptive throttling), and left by itself."""

import json
import re
import time

from conftest import make_message, queue_row

SENDER = "sender@client.test"

PATTERNS = """<smtp-pattern-list blocking>
    reply /rate limit/ mode=backoff
</smtp-pattern-list>
"""


def test_reply_pattern_backoff_slows_then_normal(make_tern, sink):
    """A 451 "rate limit" reply matches mode=backoff: the queue sends at
    backoff-max-msg-rate (60/m: at most 3 messages in the first 2 s of
    the backlog), then goes back to normal mode by itself."""
    sink.add_rule("RCPT", "451 4.7.1 rate limit exceeded", count=1)
    t = make_tern(routes={"example.test": sink}, deliverd_processes=1,
                  domain_settings={"example.test":
                                   "smtp-pattern-list blocking\n"
                                   "backoff-max-msg-rate 60/m\n"
                                   "backoff-to-normal-after 6s"},
                  extra=PATTERNS)
    t.send(SENDER, ["first@example.test"], make_message())
    t.wait_acct("t", "first@example.test")
    t.wait_for(lambda: re.search(r"example\.test/\S+: backoff mode",
                                 t.log_text()), what="backoff logged")
    with t.smtp() as s:
        for i in range(5):
            t.send_on(s, SENDER, [f"r{i}@example.test"], make_message())
    t.wait_messages(sink, 1)
    start = min(m.when for m in sink.messages)
    msgs = t.wait_messages(sink, 6, timeout=40)
    assert len([m for m in msgs if m.when - start < 2.0]) <= 3
    t.wait_for(lambda: "back to normal mode" in t.log_text(), timeout=30,
               what="back to normal logged")


def test_adaptive_backoff_after_soft_bounces(make_tern, sink):
    """adaptive-max-smtp-out: two soft bounces within a minute (the
    limit) put the queue into backoff; after adaptive-backoff-interval it
    is back to normal, and the deferred mail is delivered."""
    sink.add_rule("RCPT", "451 4.3.0 try again", count=2)
    t = make_tern(routes={"example.test": sink}, deliverd_processes=1,
                  domain_settings={"example.test":
                                   "adaptive-max-smtp-out yes\n"
                                   "adaptive-soft-bounce-limit 2\n"
                                   "adaptive-backoff-interval 3s\n"
                                   "backoff-max-smtp-out 1"})
    t.send(SENDER, ["a@example.test", "b@example.test"], make_message())
    t.wait_for(lambda: "2 soft failures within a minute" in t.log_text(),
               what="adaptive backoff logged")
    t.wait_for(lambda: "back to normal mode" in t.log_text(), timeout=30,
               what="back to normal logged")
    t.wait_acct("d", "a@example.test", timeout=30)
    t.wait_acct("d", "b@example.test", timeout=30)


def _mode(t, queue="example.test/{default}"):
    r = t.cli("--json", "show", "queues")
    assert r.returncode == 0, r.stderr
    for q in json.loads(r.stdout):
        if q["queue"] == queue:
            return q["mode"]
    return None


def test_backoff_shown_by_cli(make_tern, sink):
    """`tern show queues` says "backoff" while the queue is in backoff
    and no longer once it is back to normal."""
    sink.add_rule("RCPT", "451 4.7.1 rate limit exceeded", count=1)
    t = make_tern(routes={"example.test": sink}, deliverd_processes=1,
                  domain_settings={"example.test":
                                   "smtp-pattern-list blocking\n"
                                   "retry-after 30s\n"
                                   "backoff-to-normal-after 8s"},
                  extra=PATTERNS)
    t.send(SENDER, ["first@example.test"], make_message())
    t.wait_acct("t", "first@example.test")
    t.wait_for(lambda: _mode(t) == "backoff", what="mode backoff in CLI")
    t.wait_for(lambda: "back to normal mode" in t.log_text(), timeout=30,
               what="back to normal logged")
    t.wait_for(lambda: _mode(t) != "backoff", what="mode not backoff")


DISABLE = """<smtp-pattern-list blocked-ip>
    reply /TS03/ disable-source-ip{after}
</smtp-pattern-list>
"""


def _disable_ip_run(make_tern, sink, after, settings=""):
    """The first connection (from 127.0.0.71, the first source) gets
    "421 ... TS03" at MAIL: that source is disabled.  Returns the tern
    and the first recipient's transient row."""
    sink.add_rule("MAIL", "421 4.7.0 [TS03] blocked, try later", count=1)
    t = make_tern(routes={"example.test": sink}, deliverd_processes=1,
                  domain_settings={"example.test":
                                   "smtp-pattern-list blocked-ip\n"
                                   "max-msg-per-connection 1\n"
                                   "retry-after 2s\n" + settings},
                  extra="smtp-source-host 127.0.0.71\n"
                        "smtp-source-host 127.0.0.72\n"
                        + DISABLE.format(after=after))
    t.send(SENDER, ["first@example.test"], make_message())
    row = t.wait_acct("t", "first@example.test")[0]
    return t, row


def test_disable_source_ip_stops_using_it(make_tern, sink):
    """reply /TS03/ disable-source-ip: after a matching reply on a
    connection from 127.0.0.71, the queue connects only from 127.0.0.72
    (round robin would use both)."""
    t, row = _disable_ip_run(make_tern, sink, "")
    assert row["dlvSourceIp"] == "127.0.0.71"
    t.wait_for(lambda: "source address 127.0.0.71 disabled" in
               t.log_text(), what="disable logged")
    for i in range(4):
        t.send(SENDER, [f"r{i}@example.test"], make_message())
    msgs = t.wait_messages(sink, 5, timeout=60)
    assert {m.peer[0] for m in msgs} == {"127.0.0.72"}


def _used_again(t, sink):
    """Sends a message now and then until one comes from 127.0.0.71."""
    n = [0]

    def again():
        n[0] += 1
        t.send(SENDER, [f"again{n[0]}@example.test"], make_message())
        return "127.0.0.71" in {m.peer[0] for m in sink.messages}
    t.wait_for(again, timeout=60, interval=2, what="127.0.0.71 used again")


def test_disable_source_ip_reenable_after(make_tern, sink):
    """reenable-after=3s: the disabled address is used again later."""
    t, row = _disable_ip_run(make_tern, sink, ",reenable-after=3s")
    assert row["dlvSourceIp"] == "127.0.0.71"
    t.wait_for(lambda: "source address 127.0.0.71 disabled for 3s" in
               t.log_text(), what="disable logged")
    _used_again(t, sink)


def test_reenable_source_ip_after_global(make_tern, sink):
    """Without reenable-after=, reenable-source-ip-after applies."""
    t, row = _disable_ip_run(make_tern, sink, "",
                             "reenable-source-ip-after 3s\n")
    assert row["dlvSourceIp"] == "127.0.0.71"
    t.wait_for(lambda: "source address 127.0.0.71 disabled for 3s" in
               t.log_text(), what="disable logged")
    _used_again(t, sink)


ACTIONS = """<smtp-pattern-list acts>
    reply /TSBR/ bounce-rcpt
    reply /TSBQ/ bounce-queue
    reply /TSDQ/ defer-queue
</smtp-pattern-list>
"""


def _acts_tern(make_tern, sink):
    return make_tern(routes={"example.test": sink}, deliverd_processes=1,
                     domain_settings={"example.test":
                                      "smtp-pattern-list acts\n"
                                      "retry-after 60s"},
                     extra=ACTIONS)


def test_bounce_rcpt_pattern(make_tern, sink):
    """bounce-rcpt: a 4xx RCPT reply that matches bounces that recipient
    at once (a b row, 5.x.x), the other one is delivered."""
    sink.add_rule("RCPT", "452 4.2.2 mailbox full TSBR",
                  match="full@example.test")
    t = _acts_tern(make_tern, sink)
    t.send(SENDER, ["full@example.test", "ok@example.test"], make_message())
    row = t.wait_acct("b", "full@example.test")[0]
    assert row["dsnStatus"].startswith("5.")
    t.wait_acct("d", "ok@example.test")
    assert t.acct_rows("t", "full@example.test") == []


def test_bounce_queue_pattern(make_tern, sink):
    """bounce-queue: a matching soft reply bounces the recipient."""
    sink.add_rule("RCPT", "451 4.7.1 go away TSBQ")
    t = _acts_tern(make_tern, sink)
    t.send(SENDER, ["a@example.test"], make_message())
    t.wait_acct("b", "a@example.test")
    assert t.acct_rows("t", "a@example.test") == []


def test_defer_queue_pattern(make_tern, sink):
    """defer-queue: a matching soft reply for one recipient puts the
    whole queue into retry mode (shown by `tern show queues`)."""
    sink.add_rule("RCPT", "451 4.7.1 later TSDQ")
    t = _acts_tern(make_tern, sink)
    t.send(SENDER, ["a@example.test"], make_message())
    t.wait_acct("t", "a@example.test")
    t.wait_for(lambda: _mode(t) == "retry", what="queue in retry mode")


SKIP = """<smtp-pattern-list skipper>
    reply /SKIPME/ skip-mx,reenable-after=20s
</smtp-pattern-list>
"""


def test_skip_mx_pattern(make_tern, catchall, dns_zone):
    """skip-mx: mx1 answers RCPT with a 550 that matches; the recipient
    stays queued (a t row, not a bounce) and goes to mx2.  The skip is
    remembered when the queue empties and deliverd forgets it (one
    message per connection, then more than the 5 s an idle queue
    lingers): the next message goes to mx2 without asking mx1.  After
    reenable-after= mx1 is used again."""
    from conftest import HostSink, free_port
    port = free_port()
    dns = dns_zone({
        "skip.test": {"MX": [(10, "mx1.skip.test"), (20, "mx2.skip.test")]},
        "mx1.skip.test": {"A": ["127.0.0.21"]},
        "mx2.skip.test": {"A": ["127.0.0.22"]},
    })
    with HostSink("127.0.0.21", port, "mx1") as mx1, \
            HostSink("127.0.0.22", port, "mx2") as mx2:
        mx1.add_rule("RCPT", "550 5.7.1 [SKIPME] not from you", count=None)
        t = make_tern(default_route=None, routes={"client.test": catchall},
                      deliverd_processes=1,
                      domain_settings={"skip.test":
                                       f"smtp-port {port}\n"
                                       "smtp-pattern-list skipper\n"
                                       "max-msg-per-connection 1\n"
                                       "retry-after 1s"},
                      extra=f"name-server {dns.addr}\n" + SKIP)
        t.send(SENDER, ["a@skip.test"], make_message(to="a@skip.test"))
        row = t.wait_acct("t", "a@skip.test")[0]
        assert "mx1.skip.test" in row["dsnMta"]
        assert row["dsnStatus"].startswith("4.")
        t.wait_for(lambda: "skipping MX host mx1.skip.test for 20s" in
                   t.log_text(), what="skip logged")
        t.wait_messages(mx2, 1, timeout=30)
        assert t.acct_rows("b", "a@skip.test") == []
        t.wait_for(lambda: mx2.concurrent == 0, what="mx2 connection closed")
        # nothing to poll: deliverd frees an empty queue after
        # MTA_IDLE_TIMEOUT (5 s) without saying so
        time.sleep(6.5)
        t.send(SENDER, ["b@skip.test"], make_message(to="b@skip.test"))
        t.wait_messages(mx2, 2, timeout=30)
        assert mx1.connections == 1
        # expiry: mx1 gets a connection again (and is skipped again)
        n = [0]

        def again():
            n[0] += 1
            t.send(SENDER, [f"c{n[0]}@skip.test"],
                   make_message(to="r@skip.test"))
            return mx1.connections > 1
        t.wait_for(again, timeout=60, interval=2, what="mx1 used again")
        t.wait_for(lambda: "MX host mx1.skip.test in use again" in
                   t.log_text(), what="reenable logged")


RULE_NORMAL = """<smtp-pattern-list slowdown>
    reply /slow down/ mode=backoff,backoff-to-normal-after={after}
</smtp-pattern-list>
"""


def _rule_tern(make_tern, sink, after):
    """A queue whose pattern's own backoff-to-normal-after= is `after`
    (the queue's backoff-to-normal-after, 10m, must not apply)."""
    return make_tern(routes={"example.test": sink}, deliverd_processes=1,
                     domain_settings={"example.test":
                                      "smtp-pattern-list slowdown\n"
                                      "retry-after 1h\n"
                                      "backoff-to-normal-after 10m"},
                     extra=RULE_NORMAL.format(after=after))


def test_pattern_backoff_to_normal_after(make_tern, sink):
    """reply /.../ mode=backoff,backoff-to-normal-after=3s: the queue is
    in backoff (logged "for 3s", `tern show queues` says backoff), then
    back to normal by itself after the rule's 3 s, not the queue's 10m."""
    sink.add_rule("RCPT", "451 4.7.1 slow down please", count=1)
    t = _rule_tern(make_tern, sink, "3s")
    t.send(SENDER, ["first@example.test"], make_message())
    t.wait_acct("t", "first@example.test")
    t.wait_for(lambda: re.search(r"example\.test/\S+: backoff mode \(.*"
                                 r"slow down.*, for 3s", t.log_text()),
               what="backoff for 3s logged")
    t.wait_for(lambda: _mode(t) == "backoff", what="mode backoff in CLI")
    t.wait_for(lambda: "back to normal mode (backoff interval over)" in
               t.log_text(), timeout=30, what="back to normal logged")
    t.wait_for(lambda: _mode(t) == "normal", what="mode normal in CLI")


def _log_ms(line):
    h, m, s = line.split()[0].split(":")
    return (int(h) * 3600 + int(m) * 60) * 1000 + round(float(s) * 1000)


def test_backoff_lasts_while_deferrals_go_on(make_tern, sink):
    """Normal mode comes after an interval *without deferrals*: while the
    receiver keeps deferring (a message a second for 6 s, rule 4 s; only
    the first reply matches the pattern, the others are plain 451s) the
    queue stays in backoff; it is back to normal 4 s after the last
    deferral, not 4 s after the first."""
    sink.add_rule("RCPT", "451 4.7.1 slow down please", count=1)
    sink.add_rule("RCPT", "451 4.3.0 busy, try later", count=None)
    t = _rule_tern(make_tern, sink, "4s")
    for i in range(7):
        t.send(SENDER, [f"r{i}@example.test"], make_message())
        t.wait_acct("t", f"r{i}@example.test")
        time.sleep(1)
    t.wait_for(lambda: "back to normal mode" in t.log_text(), timeout=40,
               what="back to normal logged")
    lines = t.log_text().splitlines()
    deferred = [_log_ms(ln) for ln in lines
                if "deliverd" in ln and "deferred: " in ln]
    normal = [_log_ms(ln) for ln in lines if "back to normal mode" in ln]
    assert len(deferred) == 7 and len(normal) == 1, t.log_tail()
    assert normal[0] - max(deferred) >= 3500, t.log_tail()


def test_backoff_halves_max_msg_rate(make_tern, sink):
    """Backoff is fewer connections *and a lower rate*: without a
    backoff-max-msg-rate, a queue in backoff keeps to half its
    max-msg-rate, and `tern show queues` says so; back to normal, the
    whole rate again."""
    sink.add_rule("RCPT", "451 4.3.0 try again", count=2)
    t = make_tern(routes={"example.test": sink}, deliverd_processes=1,
                  domain_settings={"example.test":
                                   "adaptive-max-smtp-out yes\n"
                                   "adaptive-soft-bounce-limit 2\n"
                                   "adaptive-backoff-interval 4s\n"
                                   "max-msg-rate 600/m\n"
                                   "retry-after 1h"})
    t.send(SENDER, ["a@example.test", "b@example.test"], make_message())
    t.wait_for(lambda: "half of max-msg-rate" in t.log_text(),
               what="backoff with half the rate logged")

    def row():
        return queue_row(t) or {}
    t.wait_for(lambda: row()["msgRate"] == "half of 600/m",
               what="half the rate in show queues")
    assert row()["mode"] == "backoff"
    t.wait_for(lambda: "back to normal mode" in t.log_text(), timeout=30,
               what="back to normal logged")
    # deliverd says again when something changes: send one more
    t.send(SENDER, ["c@example.test"], make_message())
    t.wait_for(lambda: row()["msgRate"] == "600/m",
               what="the whole rate again")
