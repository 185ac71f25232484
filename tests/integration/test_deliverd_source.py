"""deliverd: source addresses and EHLO names, seen by the receiver.

Linux routes all of 127.0.0.0/8 to the loopback interface, so Tern can
bind its outbound connections to 127.0.0.x and the Sink sees that
address as the peer.
"""

from conftest import make_message

SENDER = "sender@client.test"


def _peers(sink):
    return {m.peer[0] for m in sink.messages}


def test_smtp_source_host_binds_and_names(make_tern, sink):
    """smtp-source-host IP NAME: connections come from IP, EHLO NAME;
    the accounting row shows the source IP."""
    t = make_tern(routes={"example.test": sink},
                  extra="smtp-source-host 127.0.0.21 out1.tern.test\n")
    t.send(SENDER, ["a@example.test"], make_message())
    msg = t.wait_messages(sink, 1)[0]
    assert msg.peer[0] == "127.0.0.21"
    assert msg.helo == "out1.tern.test"
    row = t.wait_acct("d", "a@example.test")[0]
    assert row["dlvSourceIp"] == "127.0.0.21"


def test_bind_to_source_ip_alias(make_tern, sink):
    """The seeds' bind-to-source-ip is the same directive."""
    t = make_tern(routes={"example.test": sink},
                  extra="bind-to-source-ip 127.0.0.22\n")
    t.send(SENDER, ["a@example.test"], make_message())
    msg = t.wait_messages(sink, 1)[0]
    assert msg.peer[0] == "127.0.0.22"
    assert msg.helo == "tern.test"          # the global host-name


def test_source_cidr_spreads_connections(make_tern, sink):
    """smtp-source-host CIDR: the connections take turns over its host
    addresses (not the network or broadcast address)."""
    t = make_tern(routes={"example.test": sink},
                  domain_settings={"example.test":
                                   "max-msg-per-connection 1"},
                  deliverd_processes=1,
                  extra="smtp-source-host 127.0.0.40/30 pool.tern.test\n")
    with t.held("example.test/{default}"):
        for i in range(4):
            t.send(SENDER, [f"r{i}@example.test"], make_message())
    t.wait_messages(sink, 4)
    assert _peers(sink) == {"127.0.0.41", "127.0.0.42"}
    assert {m.helo for m in sink.messages} == {"pool.tern.test"}


def test_several_source_hosts(make_tern, sink):
    """Several smtp-source-host lines: each address is used."""
    t = make_tern(routes={"example.test": sink},
                  domain_settings={"example.test":
                                   "max-msg-per-connection 1"},
                  deliverd_processes=1,
                  extra="smtp-source-host 127.0.0.51\n"
                        "smtp-source-host 127.0.0.52\n")
    for i in range(4):
        t.send(SENDER, [f"r{i}@example.test"], make_message())
    t.wait_messages(sink, 4)
    assert _peers(sink) == {"127.0.0.51", "127.0.0.52"}


VMTAS = """<virtual-mta v1>
    smtp-source-host 127.0.0.61 v1.tern.test
</virtual-mta>
<virtual-mta v2>
    source 127.0.0.62
    host-name v2.tern.test
    <domain example.test>
        max-msg-per-connection 1
    </domain>
</virtual-mta>
"""


def test_vmta_source_and_name(make_tern, sink):
    """X-Virtual-MTA picks the VMTA: each VMTA's connections come from its
    own address with its own EHLO name; the accounting row names it."""
    t = make_tern(routes={"example.test": sink}, extra=VMTAS, start=False)
    t._config_text = t.config_text().replace(
        "    always-allow-relaying yes",
        "    always-allow-relaying yes\n    process-x-virtual-mta yes", 1)
    t.start()
    for vmta in ("v1", "v2"):
        t.send(SENDER, [f"{vmta}@example.test"],
               make_message(headers=(f"X-Virtual-MTA: {vmta}",)))
    m1 = t.wait_messages(sink, 1, rcpt="v1@example.test")[0]
    m2 = t.wait_messages(sink, 1, rcpt="v2@example.test")[0]
    assert (m1.peer[0], m1.helo) == ("127.0.0.61", "v1.tern.test")
    assert (m2.peer[0], m2.helo) == ("127.0.0.62", "v2.tern.test")
    assert b"X-Virtual-MTA" not in m1.data
    row = t.wait_acct("d", "v1@example.test")[0]
    assert row["vmta"] == "v1" and row["dlvSourceIp"] == "127.0.0.61"


POOL = VMTAS + """<virtual-mta-pool both>
    virtual-mta v1
    virtual-mta v2
</virtual-mta-pool>
"""


def test_vmta_pool_spreads_over_members(make_tern, sink):
    """X-Virtual-MTA naming a <virtual-mta-pool>: messages take turns
    over its member VMTAs, each with its own source address."""
    t = make_tern(routes={"example.test": sink}, extra=POOL, start=False)
    t._config_text = t.config_text().replace(
        "    always-allow-relaying yes",
        "    always-allow-relaying yes\n    process-x-virtual-mta yes", 1)
    t.start()
    for i in range(4):
        t.send(SENDER, [f"p{i}@example.test"],
               make_message(headers=("X-Virtual-MTA: both",)))
    msgs = t.wait_messages(sink, 4)
    assert _peers(sink) == {"127.0.0.61", "127.0.0.62"}
    assert {m.helo for m in msgs} == {"v1.tern.test", "v2.tern.test"}
