"""deliverd and queued: retries, attempts and expiry."""

import time

from conftest import Sink, free_port, make_message

SENDER = "sender@client.test"


def test_max_delivery_attempts_bounces(make_tern, sink):
    """max-delivery-attempts 2: a recipient that keeps getting 451 is
    tried twice (one t row), then bounced (b row)."""
    sink.add_rule("RCPT", "451 4.2.1 try later", count=None)
    t = make_tern(routes={"example.test": sink},
                  domain_settings={"example.test":
                                   "max-delivery-attempts 2\n"
                                   "retry-after 1s"})
    t.send(SENDER, ["a@example.test"], make_message())
    row = t.wait_acct("b", "a@example.test", timeout=30)[0]
    assert row["dsnStatus"].startswith("4.4.7") or \
        row["dsnStatus"].startswith("5."), row
    assert len(t.acct_rows("t", "a@example.test")) == 1
    assert len(sink.attempts("RCPT", "a@example.test")) == 2
    t.wait_acct("d", SENDER)    # the DSN about it reached the sender


def test_connection_failure_puts_queue_in_retry_mode(make_tern):
    """Nobody listens: the attempt fails for the whole queue, which then
    waits for its retry time; mail queued meanwhile waits with it, and
    all of it goes once the receiver is up at the retry."""
    port = free_port()
    t = make_tern(routes={"example.test": port},
                  domain_settings={"example.test": "retry-after 4s"})
    t.send(SENDER, ["a@example.test"], make_message())
    t.wait_acct("t", "a@example.test")
    failed_at = time.time()
    with Sink(port=port, name="late") as late:
        t.send(SENDER, ["b@example.test"], make_message())
        msgs = t.wait_messages(late, 2, timeout=30)
        # b was not tried on its own before the queue's retry time
        first = min(m.when for m in msgs)
        assert first - failed_at >= 2.5, first - failed_at
        assert t.acct_rows("t", "b@example.test") == []
        assert sorted(r for m in msgs for r in m.rcpt_tos) == \
            ["a@example.test", "b@example.test"]


def test_queue_interval_is_a_floor_of_retry_after(make_tern, sink):
    """queue-interval (the seeds'; retry-after in PowerMTA): no retry
    comes sooner, so retry-after 1s with queue-interval 5s waits 5s."""
    sink.add_rule("RCPT", "451 4.2.1 try later", count=1)
    t = make_tern(routes={"example.test": sink},
                  domain_settings={"example.test":
                                   "retry-after 1s\n"
                                   "queue-interval 5s"})
    t.send(SENDER, ["a@example.test"], make_message())
    t.wait_acct("t", "a@example.test")
    failed_at = time.time()
    msg = t.wait_messages(sink, 1, timeout=40)[0]
    # a lower bound only: a loaded machine makes the retry later, never
    # sooner
    assert msg.when - failed_at >= 3.5, msg.when - failed_at
