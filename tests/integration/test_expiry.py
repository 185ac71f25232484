"""Retry and expiry: a recipient that keeps failing temporarily is retried
after retry-after and, once bounce-after has passed since it was queued,
becomes a `b` row (and is never delivered afterwards)."""
import json
import time
from datetime import datetime

from conftest import free_port, make_message

SENDER = "sender@client.test"


def test_bounce_after_expiry_gives_b_row(make_tern):
    rcpt = "late@expire.test"
    closed = free_port()            # nothing listens: every try fails
    tern = make_tern(routes={"expire.test": closed},
                     domain_settings={"expire.test": "bounce-after 4s"},
                     retry_after="1s")
    t0 = time.time()
    tern.send(SENDER, [rcpt], make_message(to=rcpt))
    [row] = tern.wait_acct("b", rcpt, timeout=40)
    # it was retried before it expired, and each try left a t row
    assert len(tern.acct_rows("t", rcpt)) >= 2
    assert row["dsnAction"] == "failed"
    assert row["dsnStatus"].startswith("4.4.7")
    assert row["bounceCat"] == "message-expired"
    assert row["orig"] == SENDER
    # bounce-after is counted from the time the message was queued,
    # which the envelope keeps in whole seconds
    assert time.time() - t0 >= 3
    assert tern.acct_rows("d", rcpt) == []
    # expired means final: nothing is left in the queue for it (once
    # the DSN about it, queued at the same moment, has gone out)
    def queue_empty():
        r = tern.cli("--json", "show", "status")
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)["status"]["queue"]["recipients"] == 0
    tern.wait_for(queue_empty, what="an empty queue")
    tern.wait_acct("d", SENDER)     # the DSN reached the sender


def test_retry_after_list_spaces_attempts(make_tern):
    """`retry-after 1s,3s`: the second retry waits longer than the first."""
    rcpt = "slow@retry.test"
    closed = free_port()
    tern = make_tern(routes={"retry.test": closed},
                     domain_settings={"retry.test": "retry-after 1s,3s"})
    tern.send(SENDER, [rcpt], make_message(to=rcpt))
    rows = tern.wait_acct("t", rcpt, n=3, timeout=30)
    times = sorted(datetime.strptime(r["timeLogged"], "%Y-%m-%d %H:%M:%S%z")
                   .timestamp() for r in rows[:3])
    first, second = times[1] - times[0], times[2] - times[1]
    assert second > first
