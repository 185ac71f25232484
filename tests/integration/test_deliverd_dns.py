"""deliverd: routing by DNS, against a real DNS server on loopback.

Each test serves a zone with conftest.DnsServer (dnslib's wire format on
127.0.0.1, a free UDP port, given to Tern as `name-server 127.0.0.1:PORT`)
and receives mail with HostSinks on other loopback addresses that share one
port, the test domains' `smtp-port`.  `<domain *>` has no route here, so
every domain is looked up in DNS; client.test (the DSNs) goes to catchall.
"""

import os
import time

import pytest

from conftest import HostSink, free_port, make_message, scaled

SENDER = "sender@client.test"


def dns_tern(make_tern, catchall, dns, domains, port, extra="", **kw):
    """A Tern that resolves through `dns`; each of `domains` delivers to
    `port` (smtp-port) on whatever its MX records say."""
    settings = {d: f"smtp-port {port}" for d in domains}
    for d, more in kw.pop("more", {}).items():
        settings[d] = settings.get(d, "") + "\n" + more
    return make_tern(default_route=None, routes={"client.test": catchall},
                     domain_settings=settings,
                     extra=f"name-server {dns.addr}\n" + extra, **kw)


def test_mx_preference_order(make_tern, catchall, dns_zone):
    """Mail goes to the most preferred MX while it answers."""
    port = free_port()
    dns = dns_zone({
        "pref.test": {"MX": [(20, "mx2.pref.test"), (10, "mx1.pref.test")]},
        "mx1.pref.test": {"A": ["127.0.0.2"]},
        "mx2.pref.test": {"A": ["127.0.0.3"]},
    })
    with HostSink("127.0.0.2", port, "mx1") as mx1, \
            HostSink("127.0.0.3", port, "mx2") as mx2:
        t = dns_tern(make_tern, catchall, dns, ["pref.test"], port)
        for i in range(3):
            t.send(SENDER, [f"r{i}@pref.test"], make_message(to="r@pref.test"))
        t.wait_messages(mx1, 3)
        assert mx2.messages == []
        row = t.wait_acct("d", "r0@pref.test")[0]
        assert "mx1.pref.test" in row["dsnMta"]
        assert row["dlvDestinationIp"] == "127.0.0.2"


def test_mx_fallback_when_first_refuses(make_tern, catchall, dns_zone):
    """The first MX refuses connections: the next one gets the mail, in
    the same attempt (no deferral)."""
    port = free_port()
    dns = dns_zone({
        "fb.test": {"MX": [(10, "dead.fb.test"), (20, "live.fb.test")]},
        "dead.fb.test": {"A": ["127.0.0.4"]},      # nothing listens there
        "live.fb.test": {"A": ["127.0.0.3"]},
    })
    with HostSink("127.0.0.3", port, "live") as live:
        t = dns_tern(make_tern, catchall, dns, ["fb.test"], port)
        t.send(SENDER, ["a@fb.test"], make_message(to="a@fb.test"))
        t.wait_messages(live, 1)
        row = t.wait_acct("d", "a@fb.test")[0]
        assert row["dlvDestinationIp"] == "127.0.0.3"
        assert t.acct_rows("t", "a@fb.test") == []


def test_implicit_mx(make_tern, catchall, dns_zone):
    """No MX record: the domain's own A record is its mail host."""
    port = free_port()
    dns = dns_zone({"amx.test": {"A": ["127.0.0.5"]}})
    with HostSink("127.0.0.5", port, "amx") as sink:
        t = dns_tern(make_tern, catchall, dns, ["amx.test"], port)
        t.send(SENDER, ["a@amx.test"], make_message(to="a@amx.test"))
        t.wait_messages(sink, 1)
        assert t.wait_acct("d", "a@amx.test")[0]["dlvDestinationIp"] == \
            "127.0.0.5"


def test_null_mx_bounces_without_connecting(make_tern, catchall, dns_zone):
    """RFC 7505 null MX: a hard bounce (5.1.10) at once."""
    port = free_port()
    dns = dns_zone({"nomail.test": {"MX": [(0, ".")],
                                    "A": ["127.0.0.6"]}})
    with HostSink("127.0.0.6", port, "never") as never:
        t = dns_tern(make_tern, catchall, dns, ["nomail.test"], port)
        t.send(SENDER, ["a@nomail.test"], make_message(to="a@nomail.test"))
        row = t.wait_acct("b", "a@nomail.test")[0]
        assert row["dsnStatus"].startswith("5.1.10")
        assert "null MX" in row["dsnDiag"]
        assert never.connections == 0
        assert t.acct_rows("t", "a@nomail.test") == []


def test_nxdomain_bounces(make_tern, catchall, dns_zone):
    """A domain that does not exist: a b row, no retries."""
    port = free_port()
    dns = dns_zone({})
    t = dns_tern(make_tern, catchall, dns, ["nosuch.test"], port)
    t.send(SENDER, ["a@nosuch.test"], make_message(to="a@nosuch.test"))
    row = t.wait_acct("b", "a@nosuch.test")[0]
    assert row["dsnStatus"].startswith("5.1.2")
    assert t.acct_rows("t", "a@nosuch.test") == []


def test_servfail_is_retried_then_delivered(make_tern, catchall, dns_zone):
    """SERVFAIL is temporary: a t row, and delivery once DNS is back."""
    port = free_port()
    dns = dns_zone({"flaky.test": "SERVFAIL",
                    "mx.flaky.test": {"A": ["127.0.0.7"]}})
    with HostSink("127.0.0.7", port, "flaky") as sink:
        t = dns_tern(make_tern, catchall, dns, ["flaky.test"], port)
        t.send(SENDER, ["a@flaky.test"], make_message(to="a@flaky.test"))
        row = t.wait_acct("t", "a@flaky.test")[0]
        assert row["dsnStatus"].startswith("4.4.3")
        assert t.acct_rows("b", "a@flaky.test") == []
        dns.zone["flaky.test"] = {"MX": [(10, "mx.flaky.test")]}
        t.wait_messages(sink, 1, timeout=30)
        t.wait_acct("d", "a@flaky.test")


def test_dns_timeout_is_retried(make_tern, catchall, dns_zone):
    """A name server that does not answer: after dns-timeout, a t row."""
    port = free_port()
    dns = dns_zone({"silent.test": "TIMEOUT"})
    t = dns_tern(make_tern, catchall, dns, ["silent.test"], port,
                 extra="dns-timeout 2s\n")
    t.send(SENDER, ["a@silent.test"], make_message(to="a@silent.test"))
    row = t.wait_acct("t", "a@silent.test", timeout=20)[0]
    assert row["dsnStatus"].startswith("4.4.3")
    assert t.acct_rows("b", "a@silent.test") == []


def test_answers_are_cached_for_their_ttl(make_tern, catchall, dns_zone):
    """Two connections a while apart cost one MX and one A lookup."""
    port = free_port()
    dns = dns_zone({"cache.test": {"MX": [(10, "mx.cache.test")]},
                    "mx.cache.test": {"A": ["127.0.0.8"]}}, ttl=600)
    with HostSink("127.0.0.8", port, "cache") as sink:
        # one message per connection: the second needs a new one
        t = dns_tern(make_tern, catchall, dns, ["cache.test"], port,
                     deliverd_processes=1,
                     more={"cache.test": "max-msg-per-connection 1"})
        t.send(SENDER, ["a@cache.test"], make_message(to="a@cache.test"))
        t.wait_messages(sink, 1)
        t.wait_for(lambda: sink.concurrent == 0, what="QUIT after 1 message")
        t.send(SENDER, ["b@cache.test"], make_message(to="b@cache.test"))
        t.wait_messages(sink, 2)
        assert sink.connections == 2
        assert dns.count("cache.test", "MX") == 1
        assert dns.count("mx.cache.test", "A") == 1


def v4_tern(make_tern, catchall, dns, domains, port):
    """dns_tern with a VMTA v4 (source 127.0.0.1) that a message picks
    with an X-Virtual-MTA: v4 header: its queues connect over IPv4 only."""
    vmta = "<virtual-mta v4>\n    smtp-source-host 127.0.0.1\n</virtual-mta>\n"
    t = dns_tern(make_tern, catchall, dns, domains, port, extra=vmta,
                 start=False)
    t._config_text = t.config_text().replace(
        "    always-allow-relaying yes",
        "    always-allow-relaying yes\n    process-x-virtual-mta yes", 1)
    t.start()
    return t


def test_ipv4_sources_ask_no_aaaa(make_tern, catchall, dns_zone):
    """A VMTA whose source addresses are all IPv4 connects over IPv4
    only: its MX hosts' AAAA records are not asked for; mail without a
    source address (the kernel's choice, either family) asks both."""
    port = free_port()
    dns = dns_zone({"v4.test": {"MX": [(10, "mx.v4.test")]},
                    "mx.v4.test": {"A": ["127.0.0.9"]},
                    "any.test": {"MX": [(10, "mx.any.test")]},
                    "mx.any.test": {"A": ["127.0.0.9"]}})
    with HostSink("127.0.0.9", port, "v4") as sink:
        t = v4_tern(make_tern, catchall, dns, ["v4.test", "any.test"], port)
        t.send(SENDER, ["a@v4.test"], make_message(
            to="a@v4.test", headers=("X-Virtual-MTA: v4",)))
        t.send(SENDER, ["a@any.test"], make_message(to="a@any.test"))
        t.wait_messages(sink, 2)
        assert t.wait_acct("d", "a@v4.test")[0]["dlvSourceIp"] == "127.0.0.1"
        assert dns.count("mx.v4.test", "A") == 1
        assert dns.count("mx.v4.test", "AAAA") == 0
        assert dns.count("mx.any.test", "A") == 1
        assert dns.count("mx.any.test", "AAAA") == 1


def test_one_lookup_for_connections_opened_together(make_tern, catchall,
                                                     dns_zone):
    """Connections opened at once to one MX host share its address
    lookup: one A (and one AAAA) query, not one per connection."""
    port = free_port()
    dns = dns_zone({"many.test": {"MX": [(10, "mx.many.test")]},
                    "mx.many.test": {"A": ["127.0.0.10"]}})
    with HostSink("127.0.0.10", port, "many") as sink:
        t = dns_tern(make_tern, catchall, dns, ["many.test"], port,
                     deliverd_processes=1, start=False,
                     more={"many.test": "max-msg-per-connection 1\n"
                                        "max-smtp-out 5"})
        t.start()
        for i in range(10):
            t.send(SENDER, [f"r{i}@many.test"],
                   make_message(to=f"r{i}@many.test"))
        t.wait_messages(sink, 10)
        assert sink.connections == 10
        assert dns.count("many.test", "MX") == 1
        assert dns.count("mx.many.test", "A") == 1
        assert dns.count("mx.many.test", "AAAA") == 1


def test_mx_answer_addresses_save_the_a_query(make_tern, catchall, dns_zone):
    """A server that puts its MX hosts' A records in the additional
    section of the MX answer (NSD, BIND do) saves IPv4-only queues the A
    query; a queue that may use IPv6 still asks A and AAAA."""
    port = free_port()
    dns = dns_zone({
        "glue.test": {"MX": [(10, "mx.glue.test")],
                      "ADDITIONAL": [("mx.glue.test", "127.0.0.12")]},
        "mx.glue.test": {"A": ["127.0.0.12"]},
        "dual.test": {"MX": [(10, "mx.dual.test")],
                      "ADDITIONAL": [("mx.dual.test", "127.0.0.12")]},
        "mx.dual.test": {"A": ["127.0.0.12"]}})
    with HostSink("127.0.0.12", port, "glue") as sink:
        t = v4_tern(make_tern, catchall, dns, ["glue.test", "dual.test"], port)
        t.send(SENDER, ["a@glue.test"], make_message(
            to="a@glue.test", headers=("X-Virtual-MTA: v4",)))
        t.send(SENDER, ["a@dual.test"], make_message(to="a@dual.test"))
        t.wait_messages(sink, 2)
        assert dns.count("glue.test", "MX") == 1
        assert dns.count("mx.glue.test") == 0
        assert dns.count("mx.dual.test", "A") == 1
        assert dns.count("mx.dual.test", "AAAA") == 1


def test_mx_answer_addresses_only_in_bailiwick(make_tern, catchall,
                                               dns_zone):
    """Additional records are taken only for the answer's MX hosts at or
    below the domain asked about: an address the server adds for a host
    in another domain (here a wrong one, where nobody listens) is not
    used; that host's own A record is asked for and mail goes there."""
    port = free_port()
    dns = dns_zone({
        "far.test": {"MX": [(10, "mx.elsewhere.test")],
                     "ADDITIONAL": [("mx.elsewhere.test", "127.0.0.99")]},
        "mx.elsewhere.test": {"A": ["127.0.0.13"]}})
    with HostSink("127.0.0.13", port, "far") as sink:
        t = v4_tern(make_tern, catchall, dns, ["far.test"], port)
        t.send(SENDER, ["a@far.test"], make_message(
            to="a@far.test", headers=("X-Virtual-MTA: v4",)))
        t.wait_messages(sink, 1)
        assert dns.count("mx.elsewhere.test", "A") == 1
        assert t.wait_acct("d", "a@far.test")[0]["dlvDestinationIp"] == \
            "127.0.0.13"


def test_resolve_to_address(make_tern, catchall, dns_zone):
    """resolve-to IP: the domain's mail goes there, whatever its MX."""
    port = free_port()
    dns = dns_zone({"rt.test": {"MX": [(10, "mx.rt.test")]},
                    "mx.rt.test": {"A": ["127.0.0.2"]}})
    with HostSink("127.0.0.9", port, "rt") as sink:
        t = dns_tern(make_tern, catchall, dns, ["rt.test"], port,
                     more={"rt.test": "resolve-to 127.0.0.9"})
        t.send(SENDER, ["a@rt.test"], make_message(to="a@rt.test"))
        t.wait_messages(sink, 1)


def test_resolve_to_name_uses_its_mx(make_tern, catchall, dns_zone):
    """resolve-to NAME: the MX of NAME stands in for the domain's."""
    port = free_port()
    dns = dns_zone({"alias.test": {"MX": [(10, "mx.hub.test")]},
                    "hub.test": {"MX": [(10, "mx.hub.test")]},
                    "mx.hub.test": {"A": ["127.0.0.10"]}})
    with HostSink("127.0.0.10", port, "hub") as sink:
        t = dns_tern(make_tern, catchall, dns, ["other.test"], port,
                     more={"other.test": "resolve-to hub.test"})
        t.send(SENDER, ["a@other.test"], make_message(to="a@other.test"))
        t.wait_messages(sink, 1)
        assert dns.count("other.test") == 0


def test_smtp_hosts_override_dns(make_tern, catchall, dns_zone):
    """smtp-hosts (PowerMTA 4.5's route) wins over the MX records."""
    port = free_port()
    dns = dns_zone({"sh.test": {"MX": [(10, "mx.sh.test")]},
                    "mx.sh.test": {"A": ["127.0.0.2"]}})
    with HostSink("127.0.0.11", port, "sh") as sink:
        t = dns_tern(make_tern, catchall, dns, ["sh.test"], port,
                     more={"sh.test": f"smtp-hosts [127.0.0.11]:{port}"})
        t.send(SENDER, ["a@sh.test"], make_message(to="a@sh.test"))
        t.wait_messages(sink, 1)
        assert dns.count("sh.test", "MX") == 0


@pytest.mark.skipif(os.geteuid() != 0, reason="needs port 53 (root)")
def test_host_resolv_conf_used_in_chroot(make_tern, catchall, monkeypatch,
                                         tmp_path):
    """Without name-server lines, deliverd (chrooted, no /etc there) uses
    the host's resolv.conf, which ternd reads for it.  TERN_RESOLV_CONF
    points ternd at a test resolv.conf naming a server on port 53."""
    from conftest import DnsServer
    port = free_port()
    try:
        dns = DnsServer({"host.test": {"MX": [(10, "mx.host.test")]},
                         "mx.host.test": {"A": ["127.0.0.12"]}},
                        host="127.0.0.153", port=53).start()
    except OSError as e:
        pytest.skip(f"cannot serve DNS on 127.0.0.153:53: {e}")
    try:
        conf = tmp_path / "resolv.conf"
        conf.write_text("# test\nnameserver 127.0.0.153\n")
        monkeypatch.setenv("TERN_RESOLV_CONF", str(conf))
        with HostSink("127.0.0.12", port, "hostmx") as sink:
            t = make_tern(default_route=None,
                          routes={"client.test": catchall},
                          domain_settings={"host.test":
                                           f"smtp-port {port}"})
            t.send(SENDER, ["a@host.test"], make_message(to="a@host.test"))
            t.wait_messages(sink, 1)
            assert dns.count("host.test", "MX") >= 1
    finally:
        dns.stop()


def test_always_use_mx_overrides_route(make_tern, catchall, dns_zone, sink):
    """always-use-mx yes (the seeds'): the domain's MX record decides,
    not its route (which would otherwise take the mail)."""
    port = free_port()
    dns = dns_zone({
        "aum.test": {"MX": [(10, "mx1.aum.test")]},
        "mx1.aum.test": {"A": ["127.0.0.2"]},
    })
    with HostSink("127.0.0.2", port, "mx1") as mx1:
        t = dns_tern(make_tern, catchall, dns, ["aum.test"], port,
                     more={"aum.test": f"route {sink.addr}\n"
                                       "always-use-mx yes"})
        t.send(SENDER, ["r@aum.test"], make_message(to="r@aum.test"))
        t.wait_messages(mx1, 1)
        assert sink.messages == []


def _rotate_tern(make_tern, catchall, servers, port, ndomains, extra=""):
    """A Tern with a `name-server` line per server in `servers` (addr
    strings) delivering rot0.test .. rotN.test to 127.0.0.13:port."""
    domains = [f"rot{i}.test" for i in range(ndomains)]
    lines = "".join(f"name-server {s}\n" for s in servers)
    return make_tern(default_route=None, routes={"client.test": catchall},
                     domain_settings={d: f"smtp-port {port}"
                                      for d in domains},
                     extra=lines + extra), domains


def _rotate_zone(ndomains):
    zone = {}
    for i in range(ndomains):
        zone[f"rot{i}.test"] = {"MX": [(10, f"mx{i}.rot.test")]}
        zone[f"mx{i}.rot.test"] = {"A": ["127.0.0.13"]}
    return zone


@pytest.mark.parametrize("rotate", [True, False])
def test_dns_rotate_spreads_queries(make_tern, catchall, dns_zone, rotate):
    """Two name servers: with dns-rotate yes both are asked (the lookups
    take turns); without it every query goes to the first one."""
    port = free_port()
    zone = _rotate_zone(4)
    first, second = dns_zone(zone), dns_zone(zone)
    with HostSink("127.0.0.13", port, "rot") as sink:
        t, domains = _rotate_tern(
            make_tern, catchall, [first.addr, second.addr], port, 4,
            extra="dns-rotate yes\n" if rotate else "")
        for d in domains:
            t.send(SENDER, [f"a@{d}"], make_message(to=f"a@{d}"))
        t.wait_messages(sink, 4)
    assert len(first.queries) > 0
    if rotate:
        assert len(second.queries) > 0, first.queries
    else:
        assert second.queries == []


def test_dns_rotate_fails_over_from_a_dead_server(make_tern, catchall,
                                                  dns_zone):
    """The first name server does not answer at all: the second one does,
    within the same lookup (no t row), rotating or not."""
    port = free_port()
    zone = _rotate_zone(2)
    live = dns_zone(zone)
    dead = f"127.0.0.1:{free_port()}"      # nothing listens there
    with HostSink("127.0.0.13", port, "rot") as sink:
        t, domains = _rotate_tern(make_tern, catchall, [dead, live.addr],
                                  port, 2,
                                  extra="dns-rotate yes\ndns-timeout 6s\n")
        for d in domains:
            t.send(SENDER, [f"a@{d}"], make_message(to=f"a@{d}"))
        t.wait_messages(sink, 2, timeout=60)
        for d in domains:
            t.wait_acct("d", f"a@{d}")
            assert t.acct_rows("t", f"a@{d}") == []
    assert live.count("rot0.test", "MX") >= 1
