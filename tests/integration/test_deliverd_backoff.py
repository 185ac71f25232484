"""deliverd: backoff mode, entered on reply patterns or many soft
bounces (the seeds' adaptive throttling), and left by itself."""

import json
import re

from conftest import make_message

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
