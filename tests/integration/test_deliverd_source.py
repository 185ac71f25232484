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
