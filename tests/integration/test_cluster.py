"""<cluster>: limits shared by several Tern nodes through Redis (issue 13).

Real redis-server processes on loopback (started here, own directories),
several Tern nodes on one machine (own spools, ports and node-name), one
receiver that counts.  Rates are checked as upper bounds over windows (a
slow machine only delivers fewer); nothing asserts a duration.
"""

import asyncio
import os
import signal

import pytest

from conftest import (RedisServer, Sink, _SinkController, _SinkHandler,
                      cli_json, make_message, redis_cluster, scaled,
                      wait_for, LOOPBACK)

SENDER = "sender@client.test"
QUEUE = "example.test/{default}"


class _SlowHandler(_SinkHandler):
    """Answers DATA after `delay` seconds: connections stay busy, so each
    node wants all the connections it may have."""

    def __init__(self, sink, delay):
        super().__init__(sink)
        self.delay = delay

    async def handle_DATA(self, server, session, envelope):
        await asyncio.sleep(self.delay)
        return await super().handle_DATA(server, session, envelope)


class SlowSink(Sink):
    def __init__(self, delay: float = 0.3, **kwargs):
        super().__init__(**kwargs)
        self.delay = delay

    def start(self) -> "SlowSink":
        self._controller = _SinkController(
            self, _SlowHandler(self, self.delay), hostname=LOOPBACK,
            port=self.port, ready_timeout=scaled(10),
            server_hostname=f"{self.name}.test")
        self._controller.start()
        with self._lock:
            self._counting = True
        return self


def cluster_block(redis, node, password_file=None, lease="3s",
                  heartbeat="1s", extra=""):
    seeds = redis if isinstance(redis, list) else [redis]
    lines = ["<cluster>"]
    lines += [f"    redis {r.addr}" for r in seeds]
    lines += [f"    node-name {node}", f"    lease-time {lease}",
              f"    heartbeat-interval {heartbeat}", "    redis-timeout 1s"]
    if password_file:
        lines.append(f"    redis-password-file {password_file}")
    if extra:
        lines.append(extra)
    lines.append("</cluster>")
    return "\n".join(lines) + "\n"


def password_file(path, text):
    path.write_text(text + "\n")
    os.chmod(path, 0o600)
    return path


def cluster_status(t):
    return cli_json(t, "show", "status", "--cluster")


def status_mode(t):
    st = cli_json(t, "show", "status")["status"]
    return st.get("cluster", {}).get("mode")


def make_nodes(make_tern, redis, sink, n, settings, **kw):
    return [make_tern(name=f"node{i}", routes={"example.test": sink},
                      domain_settings={"example.test": settings},
                      extra=cluster_block(redis, f"node{i}", **kw))
            for i in range(n)]


def send_each(nodes, count, tag="m"):
    """count messages to example.test through each node (one session)."""
    for k, t in enumerate(nodes):
        with t.smtp() as s:
            for i in range(count):
                t.send_on(s, SENDER, [f"{tag}{k}-{i}@example.test"],
                          make_message())


def delivered(nodes):
    return sum(len(t.acct_rows("d")) for t in nodes)


@pytest.fixture
def redis(tmp_path):
    r = RedisServer(tmp_path / "redis").start()
    yield r
    r.stop()


# ------------------------------------------------------------ the node


def test_node_registers_with_password(make_tern, tmp_path, sink):
    """A password-protected Redis: ternd reads redis-password-file (the
    daemon that connects is chrooted), the node shows in the registry,
    in `show status` (shared) and in `show status --cluster`."""
    r = RedisServer(tmp_path / "redis", password="s3cret pw").start()
    try:
        pw = password_file(tmp_path / "redis.pw", "s3cret pw")
        t = make_tern(routes={"example.test": sink},
                      extra=cluster_block(r, "alpha", password_file=pw))
        wait_for(lambda: "alpha" in r.cli("ZRANGE", "tern:{nodes}", "0",
                                          "-1").split(), 20,
                 what="alpha in the registry")
        wait_for(lambda: status_mode(t) == "shared", 20, what="shared mode")
        c = cluster_status(t)
        assert c["node"] == "alpha" and c["mode"] == "shared"
        assert [n["name"] for n in c["nodes"]] == ["alpha"]
        assert c["nodes"][0]["live"] is True
        out = t.cli("show", "status", "--cluster")
        assert out.returncode == 0 and "alpha" in out.stdout, out
        # mail still goes
        t.send(SENDER, ["x@example.test"], make_message())
        t.wait_messages(sink, 1)
    finally:
        r.stop()


def test_wrong_password_is_degraded_not_blocked(make_tern, tmp_path, sink):
    """AUTH refused: the node says degraded (and why) and delivers."""
    r = RedisServer(tmp_path / "redis", password="right").start()
    try:
        pw = password_file(tmp_path / "redis.pw", "wrong")
        t = make_tern(routes={"example.test": sink},
                      domain_settings={"example.test": "max-smtp-out 2"},
                      extra=cluster_block(r, "alpha", password_file=pw))
        t.send(SENDER, ["x@example.test"], make_message())
        t.wait_messages(sink, 1)
        assert status_mode(t) == "degraded"
        assert "AUTH" in t.log_text()
    finally:
        r.stop()


def test_without_cluster_no_cluster_status(tern):
    """No <cluster>: nothing in show status, --cluster says off."""
    assert "cluster" not in cli_json(tern, "show", "status")["status"]
    assert cli_json(tern, "show", "status", "--cluster") == {"mode": "off"}


def test_redis_address_must_be_an_ip(make_tern, tmp_path):
    """queued connects from its chroot: a host name is refused with
    FILE:LINE naming the directive."""
    conf = tmp_path / "bad.conf"
    conf.write_text("<cluster>\n    redis localhost:6379\n</cluster>\n")
    t = make_tern(start=False)
    r = t.cli("check-config", str(conf), conf=False)
    assert r.returncode != 0
    assert f"{conf}:2" in r.stderr + r.stdout and "redis" in r.stderr + \
        r.stdout, r


# ------------------------------------------------------ shared limits


def test_max_smtp_out_shared_by_three_nodes(make_tern, redis):
    """max-smtp-out 4 on a domain: three nodes with 12 slow messages each
    never have more than 4 connections open at the receiver together."""
    with SlowSink(delay=0.3, name="slow") as sink:
        nodes = make_nodes(make_tern, redis, sink, 3, "max-smtp-out 4")
        for t in nodes:
            wait_for(lambda: status_mode(t) == "shared", 20,
                     what="shared mode")
        send_each(nodes, 12)
        wait_for(lambda: delivered(nodes) >= 36, 60, what="36 deliveries")
        assert 2 <= sink.max_concurrent <= 4, sink.max_concurrent
        c = cluster_status(nodes[0])
        assert sorted(n["name"] for n in c["nodes"]) == \
            ["node0", "node1", "node2"]
        lim = [x for x in c["limits"] if x["limit"] == "max-smtp-out"]
        assert lim and lim[0]["max"] == 4 and lim[0]["of"] == QUEUE


def test_max_msg_rate_shared_by_three_nodes(make_tern, redis, sink):
    """max-msg-rate 120/m (2/s): three nodes together stay under it (one
    bucket step of tolerance), where each alone could send 2/s."""
    nodes = make_nodes(make_tern, redis, sink, 3, "max-msg-rate 120/m")
    for t in nodes:
        wait_for(lambda: status_mode(t) == "shared", 20, what="shared mode")
    send_each(nodes, 8)
    wait_for(lambda: delivered(nodes) >= 24, 60, what="24 deliveries")
    times = sorted(m.when for m in sink.messages)
    assert len(times) == 24
    # every window: at most 2/s of it, plus one bucket step and the
    # message at its edge
    for i in range(len(times)):
        for j in range(i + 1, len(times)):
            n = j - i + 1
            assert n <= 2 * (times[j] - times[i]) + 2, \
                (n, times[j] - times[i])
    lim = [x for x in cluster_status(nodes[0])["limits"]
           if x["limit"] == "max-msg-rate"]
    assert lim and lim[0]["rate"] == "120/m"


def test_killed_node_frees_its_leases(make_tern, redis):
    """A node killed (-9) while it holds every connection lease: another
    node gets them within the lease time, not before."""
    with SlowSink(delay=30, name="stuck") as stuck, Sink(name="ok") as ok:
        # node a sends to a receiver that never answers DATA: it holds
        # the 2 leases of the queue
        a = make_tern(name="a", routes={"example.test": stuck},
                      domain_settings={"example.test": "max-smtp-out 2"},
                      extra=cluster_block(redis, "a"))
        b = make_tern(name="b", routes={"example.test": ok},
                      domain_settings={"example.test": "max-smtp-out 2"},
                      extra=cluster_block(redis, "b"))
        for t in (a, b):
            wait_for(lambda: status_mode(t) == "shared", 20,
                     what="shared mode")
        send_each([a], 4, tag="a")
        key = "tern:{q:" + QUEUE + "}:conn"
        wait_for(lambda: len(redis.cli("ZRANGE", key, "0", "-1").split())
                 == 2, 20, what="a holds 2 leases")
        send_each([b], 2, tag="b")

        def b_refused():
            lim = [x for x in cluster_status(b)["limits"]
                   if x["limit"] == "max-smtp-out"]
            return lim and lim[0]["used"] == 2 and lim[0]["heldHere"] == 0
        wait_for(b_refused, 20, what="b asked and was refused")
        assert ok.messages == [], "b got a lease a holds"
        os.killpg(a.proc.pid, signal.SIGKILL)
        a.proc.wait(10)
        a.proc = None
        # nobody gave them back: they are still there, then expire
        assert len(redis.cli("ZRANGE", key, "0", "-1").split()) == 2
        b.wait_messages(ok, 2, timeout=20)


def test_redis_stopped_then_restarted(make_tern, redis, sink):
    """Redis goes away mid-run: degraded mode (logged, in show status),
    every message still delivered; Redis back: shared mode by itself."""
    nodes = make_nodes(make_tern, redis, sink, 2,
                       "max-smtp-out 4\nmax-msg-rate 600/m")
    for t in nodes:
        wait_for(lambda: status_mode(t) == "shared", 20, what="shared mode")
    send_each(nodes, 10, tag="x")
    redis.stop()
    send_each(nodes, 10, tag="y")
    for t in nodes:
        wait_for(lambda: status_mode(t) == "degraded", 20,
                 what="degraded mode")
    wait_for(lambda: delivered(nodes) >= 40, 60, what="40 deliveries")
    assert len(sink.messages) == 40
    assert "degraded mode" in nodes[0].log_text()
    c = cluster_status(nodes[0])
    assert c["mode"] == "degraded" and c["reason"]
    redis.start()
    for t in nodes:
        wait_for(lambda: status_mode(t) == "shared", 30,
                 what="shared mode again")
    send_each(nodes, 2, tag="z")
    wait_for(lambda: delivered(nodes) >= 44, 30, what="44 deliveries")
    assert "shared mode" in nodes[1].log_text()


def test_redis_cluster_shared_limit(make_tern, tmp_path):
    """A 3-master Redis Cluster, one seed that does not own the queue's
    slot (-MOVED): max-smtp-out 2 holds for two nodes together."""
    masters = redis_cluster(tmp_path / "rc")
    try:
        key = "tern:{q:" + QUEUE + "}:conn"
        # a seed that answers -MOVED for the queue's slot
        seed = [m for m in masters if "MOVED" in m.cli("ZCARD", key)][0]
        with SlowSink(delay=0.3, name="slow") as sink:
            nodes = [make_tern(name=f"n{i}", routes={"example.test": sink},
                               domain_settings={"example.test":
                                                "max-smtp-out 2"},
                               extra=cluster_block(seed, f"n{i}"))
                     for i in range(2)]
            for t in nodes:
                wait_for(lambda: status_mode(t) == "shared", 20,
                         what="shared mode")
            send_each(nodes, 8)
            wait_for(lambda: delivered(nodes) >= 16, 60,
                     what="16 deliveries")
            assert 1 <= sink.max_concurrent <= 2, sink.max_concurrent
    finally:
        for m in masters:
            m.stop()


def test_slow_redis_is_degraded_then_shared(make_tern, redis, sink):
    """Redis that stops answering (SIGSTOP) without closing: after
    redis-timeout the node is degraded and delivers; SIGCONT: shared."""
    t = make_tern(routes={"example.test": sink},
                  domain_settings={"example.test": "max-smtp-out 2"},
                  extra=cluster_block(redis, "alpha"))
    wait_for(lambda: status_mode(t) == "shared", 20, what="shared mode")
    redis.proc.send_signal(signal.SIGSTOP)
    try:
        wait_for(lambda: status_mode(t) == "degraded", 20,
                 what="degraded mode")
        t.send(SENDER, ["slow@example.test"], make_message())
        t.wait_messages(sink, 1)
    finally:
        redis.proc.send_signal(signal.SIGCONT)
    wait_for(lambda: status_mode(t) == "shared", 30, what="shared again")
    assert "timed out" in t.log_text()
    out = t.cli("show", "status", "--cluster")
    assert "node alpha: shared mode" in out.stdout, out


def test_mx_rollup_limit_is_shared(make_tern, redis, dns_zone, catchall):
    """MX rollup: a.test and b.test roll up into shared.rollup, whose
    max-smtp-out 2 (<domain shared.rollup>) is a lease shared by two
    nodes: the receiver never sees more than 2 connections from both."""
    from test_deliverd_rollup import LISTED, ZONE
    from conftest import HostSink, free_port
    port = free_port()
    dns = dns_zone(ZONE)
    with HostSink("127.0.0.31", port, "mx") as sink:
        settings = {d: f"smtp-port {port}\nmax-smtp-out 5"
                    for d in ("a.test", "b.test")}
        nodes = [make_tern(name=f"r{i}", default_route=None,
                           routes={"client.test": catchall},
                           domain_settings=settings,
                           extra=f"name-server {dns.addr}\n" + LISTED +
                           cluster_block(redis, f"r{i}"))
                 for i in range(2)]
        for t in nodes:
            wait_for(lambda: status_mode(t) == "shared", 20,
                     what="shared mode")
        for k, t in enumerate(nodes):
            with t.smtp() as s:
                for i in range(4):
                    for d in ("a.test", "b.test"):
                        t.send_on(s, SENDER, [f"n{k}r{i}@{d}"],
                                  make_message(to=f"r@{d}"))
        wait_for(lambda: delivered(nodes) >= 16, 60, what="16 deliveries")
        assert sink.max_concurrent <= 2
        lim = [x for n in nodes for x in cluster_status(n)["limits"]
               if x["of"] == "shared.rollup/{default}"]
        assert lim and all(x["max"] == 2 for x in lim), lim
