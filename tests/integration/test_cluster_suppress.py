"""The suppression list shared by the nodes of a <cluster> through Redis
(issue 13, line 3; docs/cluster.md "Shared suppression"): an address
suppressed on one node is refused or bounced on every node, removed on
any node it is accepted again everywhere, and `tern suppression list`
says the same on each.  A real redis-server on loopback (one per module),
two Tern nodes with their own spools and ports."""

import json
import smtplib

import pytest

from conftest import RedisServer, make_message, scaled

SENDER = "sender@client.test"


@pytest.fixture(scope="module")
def redis(tmp_path_factory):
    r = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield r
    r.stop()


def node(make_tern, sink, name, redis, prefix, reject=False, start=True,
         password_file=None):
    pw = f"    redis-password-file {password_file}\n" if password_file \
        else ""
    t = make_tern(name=name, routes={"example.test": sink}, start=False,
                  extra="<cluster>\n"
                        f"    redis {redis.addr}\n"
                        f"    node-name {name}\n"
                        f"    key-prefix {prefix}\n"
                        "    redis-timeout 1s\n" + pw +
                        "</cluster>\n")
    if reject:
        t._config_text = t.config_text().replace(
            "    always-allow-relaying yes",
            "    always-allow-relaying yes\n    suppression-action reject",
            1)
    if start:
        t.start()
    return t


def cli_ok(t, *args):
    r = t.cli(*args)
    assert r.returncode == 0, (args, r.stdout, r.stderr)
    return r.stdout


def listed(t):
    out = cli_ok(t, "--json", "suppression", "list")
    return sorted((e["address"], e["vmta"]) for e in json.loads(out))


def rcpt_code(t, addr):
    """What the node answers to RCPT TO:<addr> (the transaction is reset)."""
    with t.smtp() as s:
        s.ehlo("client.test")
        s.mail(SENDER)
        code, _ = s.rcpt(addr)
        s.rset()
    return code


def test_suppression_shared_by_every_node(make_tern, sink, redis):
    prefix = "t1:"
    a = node(make_tern, sink, "A", redis, prefix)
    c = node(make_tern, sink, "C", redis, prefix, reject=True)
    x, y = "xavier@example.test", "yvonne@example.test"

    # Added on A: C refuses it at RCPT (suppression-action reject).
    assert "suppressed" in cli_ok(a, "suppression", "add", x)
    c.wait_for(lambda: (x, "*") in listed(c), scaled(20),
               what="A's addition listed on C")
    c.wait_for(lambda: rcpt_code(c, x) == 550, scaled(20),
               what="C refuses the address at RCPT")
    assert redis.cli("SISMEMBER", prefix + "{suppression}:set",
                     "\t" + x).strip() == "1"

    # Added on C: A (suppression-action bounce) accepts and bounces it.
    cli_ok(c, "suppression", "add", y)
    a.wait_for(lambda: (y, "*") in listed(a), scaled(20),
               what="C's addition listed on A")
    a.wait_for(lambda: rcpt_code(a, "probe@example.test") == 250,
               what="A answers")
    # queued and smtpd learn the list after bounced: poll a real send.
    def bounced_on_a():
        a.send(SENDER, [y], make_message(to=y), rcpt_options=["NOTIFY=NEVER"])
        return a.wait_acct("b", y)
    [b] = bounced_on_a()
    assert b["dsnStatus"].startswith("5.7.1"), b
    assert 'suppression list "global"' in b["dsnDiag"], b
    assert sink.messages_for(y) == []

    # Removed on C: A accepts it again and delivers; so does C.
    assert "removed" in cli_ok(c, "suppression", "remove", x)
    a.wait_for(lambda: (x, "*") not in listed(a), scaled(20),
               what="C's removal seen on A")
    c.wait_for(lambda: rcpt_code(c, x) == 250, scaled(20),
               what="C accepts again")
    a.send(SENDER, [x], make_message(to=x))
    a.wait_messages(sink, 1, rcpt=x)

    # Per-VMTA entries too; the list is the same on both nodes.
    cli_ok(a, "suppression", "add", "z@example.test")
    cli_ok(c, "suppression", "add", "w@example.test")
    want = sorted([(y, "*"), ("z@example.test", "*"),
                   ("w@example.test", "*")])
    for t in (a, c):
        t.wait_for(lambda t=t: listed(t) == want, scaled(20),
                   what="the same list on both nodes")


def test_changes_wait_while_redis_is_away(make_tern, sink, tmp_path):
    """Redis stopped: the node still refuses what it suppressed (its list
    is local) and keeps the change; Redis back, empty (no persistence):
    the node's list seeds it again, and a node that starts afterwards has
    every entry.  Redis wants a password here (redis-password-file: ternd
    reads it and hands it to bounced too)."""
    pwfile = tmp_path / "redis.pw"
    pwfile.write_text("s3cret-pw\n")
    pwfile.chmod(0o600)
    r = RedisServer(tmp_path / "redis", password="s3cret-pw").start()
    try:
        a = node(make_tern, sink, "A", r, "t2:", reject=True,
                 password_file=pwfile)
        cli_ok(a, "suppression", "add", "early@example.test")
        a.wait_for(lambda: r.cli("SCARD", "t2:{suppression}:set").strip()
                   == "1", scaled(20), what="in Redis")
        port = r.port
        r.stop()
        cli_ok(a, "suppression", "add", "late@example.test")
        a.wait_for(lambda: rcpt_code(a, "late@example.test") == 550,
                   scaled(20), what="refused while Redis is away")
        r = RedisServer(tmp_path / "redis", password="s3cret-pw",
                        port=port).start()
        # --save "": the restarted Redis is empty: A's list seeds it.
        a.wait_for(lambda: r.cli("SCARD", "t2:{suppression}:set").strip()
                   == "2", scaled(30), what="A's list written again")
        c = node(make_tern, sink, "C", r, "t2:", reject=True,
                 password_file=pwfile)
        want = [("early@example.test", "*"), ("late@example.test", "*")]
        c.wait_for(lambda: listed(c) == want, scaled(20),
                   what="the new node has both")
        c.wait_for(lambda: rcpt_code(c, "late@example.test") == 550,
                   scaled(20), what="the new node refuses it")
    finally:
        r.stop()
