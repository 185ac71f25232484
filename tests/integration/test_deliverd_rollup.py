"""deliverd: MX rollup.  Domains whose mail hosts are the same share one
queue's connections and limits (PowerMTA's <mx-rollup-list>, and Tern's
automatic rollup of identical MX sets, once two domains have one);
disable-mx-rollup keeps a domain apart.  Two domains in a DNS zone served on loopback point at one MX, a
HostSink on 127.0.0.31 that counts connections."""

import pytest

from conftest import HostSink, cli_json, free_port, make_message, queue_row

SENDER = "sender@client.test"
ZONE = {
    "a.test": {"MX": [(10, "mx.shared.test")]},
    "b.test": {"MX": [(10, "mx.shared.test")]},
    "mx.shared.test": {"A": ["127.0.0.31"]},
}
LISTED = """<mx-rollup-list>
    mx mx.shared.test shared.rollup
</mx-rollup-list>
<domain shared.rollup>
    max-smtp-out 2
</domain>
"""


def _tern(make_tern, catchall, dns, port, settings, extra="", **kw):
    return make_tern(default_route=None, routes={"client.test": catchall},
                     domain_settings=settings,
                     extra=f"name-server {dns.addr}\n" + extra, **kw)


def _send_both(t, n):
    """n messages to each of a.test and b.test, interleaved."""
    with t.smtp() as s:
        for i in range(n):
            for d in ("a.test", "b.test"):
                t.send_on(s, SENDER, [f"r{i}@{d}"], make_message(to=f"r@{d}"))


def _one_then_other(t, sink):
    """Mail for a.test, delivered; then mail for b.test while a.test's
    connection is still open (idle, 5 s): it goes on that connection
    when both share a queue, on a new one when they do not."""
    t.send(SENDER, ["first@a.test"], make_message(to="first@a.test"))
    t.wait_messages(sink, 1)
    t.send(SENDER, ["first@b.test"], make_message(to="first@b.test"))
    t.wait_messages(sink, 2)


def _domains_by_conn(sink):
    conns = {}
    for m in sink.messages:
        for r in m.rcpt_tos:
            conns.setdefault(m.conn, set()).add(r.split("@")[1])
    return conns


@pytest.fixture
def shared(dns_zone):
    port = free_port()
    dns = dns_zone(ZONE)
    with HostSink("127.0.0.31", port, "mx") as sink:
        yield dns, port, sink


def test_listed_rollup_shares_connections_and_limit(make_tern, catchall,
                                                     shared):
    """<mx-rollup-list> puts a.test and b.test (each allowed 5
    connections) into shared.rollup, whose max-smtp-out 2 holds for
    both: b.test's mail goes on the connection a.test's opened, and a
    burst for both never makes more than 2 connections.  `tern show queues` shows
    each domain's rollup and the rollup's own row (its limit, its
    domains)."""
    dns, port, sink = shared
    settings = {d: f"smtp-port {port}\nmax-smtp-out 5"
                for d in ("a.test", "b.test")}
    t = _tern(make_tern, catchall, dns, port, settings, LISTED,
              deliverd_processes=1)
    _one_then_other(t, sink)
    assert _domains_by_conn(sink) == {1: {"a.test", "b.test"}}
    _send_both(t, 8)
    t.wait_messages(sink, 18, timeout=60)
    assert 1 <= sink.max_concurrent <= 2
    for d in ("a.test", "b.test"):
        row = queue_row(t, f"{d}/{{default}}")
        assert row["rollup"] == "shared.rollup/{default}", row
    r = t.wait_for(lambda: queue_row(t, "shared.rollup/{default}"),
                   what="the rollup's row")
    assert r["maxSmtpOut"] == 2
    assert sorted(r["members"]) == ["a.test", "b.test"]
    text = t.cli("show", "queues").stdout
    assert "a.test/{default} > shared.rollup/{default}" in text, text


def test_same_mx_set_rolls_up_by_itself(make_tern, catchall, shared):
    """No list: two domains (no <domain> block of their own) with the
    same MX hosts are rolled up by themselves, into a queue named after
    the hosts; its limit is that of <domain mx.shared.test.rollup>."""
    dns, port, sink = shared
    t = _tern(make_tern, catchall, dns, port, {},
              f"default-smtp-port {port}\n"
              "<domain mx.shared.test.rollup>\n    max-smtp-out 2\n"
              "</domain>\n", deliverd_processes=1)
    _one_then_other(t, sink)
    assert _domains_by_conn(sink) == {1: {"a.test", "b.test"}}
    _send_both(t, 8)
    t.wait_messages(sink, 18, timeout=60)
    assert 1 <= sink.max_concurrent <= 2
    assert queue_row(t, "a.test/{default}")["rollup"] == \
        "mx.shared.test.rollup/{default}"


def test_mx_set_of_one_domain_is_not_rolled_up(make_tern, catchall, shared):
    """No list, no <domain NAME.rollup>: a domain alone with its MX hosts
    keeps its own queue (no rollup queue, none in `tern show queues`);
    the second domain with the same hosts makes the rollup, both go into
    it, and its connection then carries the first domain's mail too."""
    dns, port, sink = shared
    rollup = "mx.shared.test.rollup/{default}"
    t = _tern(make_tern, catchall, dns, port, {},
              f"default-smtp-port {port}\n", deliverd_processes=1)
    t.send(SENDER, ["first@a.test"], make_message(to="first@a.test"))
    t.wait_messages(sink, 1)
    assert queue_row(t, "a.test/{default}")["rollup"] is None
    assert queue_row(t, rollup) is None
    t.send(SENDER, ["first@b.test"], make_message(to="first@b.test"))
    t.wait_messages(sink, 2)
    r = t.wait_for(lambda: queue_row(t, rollup), what="the rollup's row")
    assert sorted(r["members"]) == ["a.test", "b.test"]
    t.send(SENDER, ["second@a.test"], make_message(to="second@a.test"))
    t.wait_messages(sink, 3)
    assert _domains_by_conn(sink) == {1: {"a.test"}, 2: {"a.test", "b.test"}}


def test_disable_mx_rollup_keeps_domains_apart(make_tern, catchall, shared):
    """disable-mx-rollup yes: listed or not, each domain keeps its own
    queue; no connection carries mail of both."""
    dns, port, sink = shared
    settings = {d: f"smtp-port {port}\nmax-smtp-out 5\n"
                   "disable-mx-rollup yes" for d in ("a.test", "b.test")}
    t = _tern(make_tern, catchall, dns, port, settings, LISTED,
              deliverd_processes=1)
    _one_then_other(t, sink)
    assert _domains_by_conn(sink) == {1: {"a.test"}, 2: {"b.test"}}
    _send_both(t, 8)
    t.wait_messages(sink, 18, timeout=60)
    conns = _domains_by_conn(sink)
    assert all(len(ds) == 1 for ds in conns.values()), conns
    assert queue_row(t, "a.test/{default}")["rollup"] is None
    assert queue_row(t, "shared.rollup/{default}") is None
