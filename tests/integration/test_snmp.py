"""SNMP (issue 14): mgmtd's v2c agent read with Debian's net-snmp tools
(snmpget, snmpwalk, snmpbulkwalk, snmpset) with TERN-MIB loaded, against
a running suite: the numbers are those of /api/v1/stats; a wrong
community gets no answer; SET is refused; malformed datagrams are
dropped, counted, and the agent goes on answering."""

import http.client
import json
import random
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from conftest import LOOPBACK, free_port, make_message, scaled, wait_for

ROOT = Path(__file__).resolve().parents[2]
# TERN-MIB, and stand-ins for the IETF base modules when the machine
# lacks them (they come last in the search path: real ones win).
MIBDIRS = f"+{ROOT / 'etc'}:{ROOT / 'tests' / 'data' / 'mibs'}"
SENDER = "sender@client.test"

pytestmark = pytest.mark.skipif(shutil.which("snmpget") is None,
                                reason="Debian's snmp tools not installed")


class Snmp:
    def __init__(self, port, community="public"):
        self.port = port
        self.community = community

    def run(self, tool, *args, community=None, timeout=2, retries=1):
        cmd = [tool, "-v2c", "-c", community or self.community,
               "-M", MIBDIRS, "-m", "TERN-MIB", "-Oqs",
               "-t", str(timeout), "-r", str(retries),
               f"{LOOPBACK}:{self.port}", *args]
        return subprocess.run(cmd, capture_output=True, text=True,
                              timeout=scaled(60))

    def values(self, tool, *args):
        """{name: value} of what the tool printed ("name value" lines)."""
        r = self.run(tool, *args)
        assert r.returncode == 0, (tool, args, r.stdout, r.stderr)
        out = {}
        for line in r.stdout.splitlines():
            if "No more variables left" in line:
                continue    # endOfMibView: the walk ran past our last one
            name, _, value = line.partition(" ")
            out[name] = value.strip().strip('"')
        return out

    def get(self, *names):
        return self.values("snmpget", *[f"TERN-MIB::{n}" for n in names])


def num(value):
    """A number as the tools print it ("12", "0 bytes")."""
    return int(value.split()[0])


def stats(port):
    c = http.client.HTTPConnection(LOOPBACK, port, timeout=scaled(30))
    c.request("GET", "/api/v1/stats")
    r = c.getresponse()
    assert r.status == 200
    return json.loads(r.read())


@pytest.fixture
def agent(make_tern, sink):
    sport, hport = free_port(), free_port()
    t = make_tern(routes={"example.test": sink},
                  extra=f"snmp-port {sport}\nsnmp-community public\n"
                        f"snmp-community second\nhttp-mgmt-port {hport}\n")
    return t, Snmp(sport), hport


def test_numbers_match_api_stats(agent, sink):
    t, snmp, hport = agent
    sink.add_rule("RCPT", "550 5.1.1 no such user", count=1)
    t.send(SENDER, ["gone@example.test", "a@example.test"], make_message())
    t.send(SENDER, ["b@example.test"], make_message())
    t.wait_messages(sink, 2)
    # 2 delivered, 1 bounced, and its DSN delivered to the sender; then
    # the idle connections close, so nothing moves between the reads.
    wait_for(lambda: (lambda s: s["queue"]["recipients"] == 0 and
                      s["bounced"] == 1 and s["delivered"] == 3 and
                      s["smtpOut"] == 0)(stats(hport)["status"]),
             timeout=60, what="all final, connections closed")
    st = stats(hport)["status"]
    v = snmp.get("ternMsgsReceived.0", "ternRcptsDelivered.0",
                 "ternRcptsBounced.0", "ternRcptsDeferred.0",
                 "ternSpoolMessages.0", "ternSpoolRecipients.0",
                 "ternSpoolBytes.0", "ternRetryPending.0",
                 "ternConnectionsOut.0", "ternState.0", "ternVersion.0",
                 "ternSpoolFull.0", "ternUptime.0")
    # 2 sent, and the DSN of the bounce
    assert num(v["ternMsgsReceived.0"]) == st["received"] == 3
    assert num(v["ternRcptsDelivered.0"]) == st["delivered"] == 3
    assert num(v["ternRcptsBounced.0"]) == st["bounced"] == 1
    assert num(v["ternRcptsDeferred.0"]) == st["deferred"]
    assert num(v["ternSpoolRecipients.0"]) == st["queue"]["recipients"]
    assert num(v["ternSpoolMessages.0"]) == st["queue"]["messages"]
    assert num(v["ternSpoolBytes.0"]) == st["queue"]["bytes"]
    assert num(v["ternRetryPending.0"]) == st["retryPending"]
    assert num(v["ternConnectionsOut.0"]) == st["smtpOut"] == 0
    assert v["ternState.0"] == "running" and v["ternSpoolFull.0"] == "false"
    assert v["ternVersion.0"] and v["ternUptime.0"]

    # The queue table, walked: the row of example.test as /api/v1/queues.
    walk = snmp.values("snmpwalk", "TERN-MIB::ternQueueTable")
    row = next(k.rsplit(".", 1)[1] for k, val in walk.items()
               if k.startswith("ternQueueName.") and
               val == "example.test/{default}")
    assert walk[f"ternQueueDomain.{row}"] == "example.test"
    assert walk[f"ternQueueVmta.{row}"] == "{default}"
    assert num(walk[f"ternQueueDelivered.{row}"]) == 2
    assert num(walk[f"ternQueueBounced.{row}"]) == 1
    assert num(walk[f"ternQueueRcpts.{row}"]) == 0
    assert walk[f"ternQueueMode.{row}"] == "normal"
    assert walk[f"ternQueuePaused.{row}"] == "false"
    vm = snmp.values("snmpwalk", "TERN-MIB::ternVmtaTable")
    assert "{default}" in vm.values()
    # GETBULK walks the same objects as GETNEXT.
    everything = snmp.values("snmpwalk", "TERN-MIB::ternObjects")
    bulk = snmp.values("snmpbulkwalk", "-Cr7", "TERN-MIB::ternObjects")
    skip = ("ternSnmp", "ternUptime")   # they move between the two walks
    assert {k: x for k, x in bulk.items() if not k.startswith(skip)} == \
        {k: x for k, x in everything.items() if not k.startswith(skip)}
    assert len(everything) > 30

    # A paused queue shows as paused; the second community works too.
    t.cli("pause", "queue", "other.test/{default}")
    two = Snmp(snmp.port, "second")
    walk = two.values("snmpwalk", "TERN-MIB::ternQueueTable")
    row = next(k.rsplit(".", 1)[1] for k, val in walk.items()
               if val == "other.test/{default}")
    assert walk[f"ternQueuePaused.{row}"] == "true"



def metrics(port):
    """/metrics as {sample name: value} (unlabelled samples only)."""
    c = http.client.HTTPConnection(LOOPBACK, port, timeout=scaled(30))
    c.request("GET", "/metrics")
    r = c.getresponse()
    assert r.status == 200
    out = {}
    for line in r.read().decode().splitlines():
        if line and not line.startswith("#") and "{" not in line:
            name, _, value = line.partition(" ")
            out[name] = int(float(value))
    return out


def test_received_and_inbound_connections(agent, sink):
    """Messages and recipients accepted over SMTP, and the inbound
    sessions open, agree in /api/v1/stats, `tern show status --json`,
    /metrics and SNMP; a DSN is not counted as received."""
    t, snmp, hport = agent
    sink.add_rule("RCPT", "550 5.1.1 no such user", count=1,
                  match="gone@example.test")
    t.send(SENDER, ["gone@example.test", "a@example.test",
                    "b@example.test"], make_message())
    t.send(SENDER, ["c@example.test"], make_message())
    # The bounce makes a DSN (received counts it, receivedMessages not).
    wait_for(lambda: stats(hport)["status"]["received"] == 3,
             timeout=60, what="the DSN queued")
    st = stats(hport)["status"]
    assert (st["receivedMessages"], st["receivedRecipients"]) == (2, 4)
    r = t.cli("--json", "show", "status")
    assert r.returncode == 0, r.stderr
    cst = json.loads(r.stdout)["status"]
    assert (cst["receivedMessages"], cst["receivedRecipients"]) == (2, 4)
    m = metrics(hport)
    assert m["tern_received_messages_total"] == 2
    assert m["tern_received_recipients_total"] == 4
    v = snmp.get("ternSmtpMsgsReceived.0", "ternSmtpRcptsReceived.0")
    assert num(v["ternSmtpMsgsReceived.0"]) == 2
    assert num(v["ternSmtpRcptsReceived.0"]) == 4

    def conns_in():
        return (stats(hport)["status"]["connectionsIn"],
                metrics(hport)["tern_smtp_in_connections"],
                num(snmp.get("ternConnectionsIn.0")["ternConnectionsIn.0"]))

    wait_for(lambda: conns_in() == (0, 0, 0), timeout=30,
             what="no inbound session")
    one, two = t.smtp(), t.smtp()
    try:
        wait_for(lambda: conns_in() == (2, 2, 2), timeout=30,
                 what="2 inbound sessions everywhere")
        r = t.cli("--json", "show", "status")
        assert json.loads(r.stdout)["status"]["connectionsIn"] == 2
    finally:
        one.quit()
        two.quit()
    wait_for(lambda: conns_in() == (0, 0, 0), timeout=30,
             what="0 inbound sessions after QUIT")


def test_wrong_community_times_out_and_set_is_refused(agent):
    t, snmp, _ = agent
    r = snmp.run("snmpget", "TERN-MIB::ternVersion.0", community="private",
                 timeout=1, retries=0)
    assert r.returncode != 0 and "Timeout" in r.stderr + r.stdout
    r = snmp.run("snmpset", "TERN-MIB::ternVersion.0", "s", "evil")
    assert r.returncode != 0 and "notWritable" in r.stderr + r.stdout
    v = snmp.get("ternSnmpBadCommunity.0", "ternSnmpSetRefused.0",
                 "ternVersion.0")
    assert num(v["ternSnmpBadCommunity.0"]) == 1
    assert num(v["ternSnmpSetRefused.0"]) == 1
    assert v["ternVersion.0"] != "evil"
    r = snmp.run("snmpget", "TERN-MIB::ternVmtaName.99")
    assert "No Such Object" in r.stdout


def ber(tag, body):
    n = len(body)
    if n < 128:
        return bytes([tag, n]) + body
    return bytes([tag, 0x82, n >> 8, n & 0xff]) + body


def get_request(community=b"public", version=1):
    oid = bytes([0x2b, 6, 1, 4, 1, 0x86, 0x8d, 0x1f, 1, 1, 1, 0])
    vb = ber(0x30, ber(0x06, oid) + b"\x05\x00")
    pdu = ber(0xa0, ber(0x02, b"\x01") + ber(0x02, b"\x00") +
              ber(0x02, b"\x00") + ber(0x30, vb))
    return ber(0x30, ber(0x02, bytes([version])) + ber(0x04, community) +
               pdu)


def test_malformed_packets_are_dropped_and_counted(agent):
    t, snmp, _ = agent
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(scaled(5))
    good = get_request()
    # The hand-made request is a real one: it is answered.
    s.sendto(good, (LOOPBACK, snmp.port))
    answer, _ = s.recvfrom(65536)
    assert answer[0] == 0x30 and b"public" in answer
    rnd = random.Random(14)
    bad = [good[:n] for n in range(1, len(good))]          # truncated BER
    bad += [bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 200)))
            for _ in range(50)]                            # random bytes
    bad += [get_request(version=0),                        # SNMPv1
            good[:-2] + b"\x05",                           # bad tail
            b"\x30\x84\xff\xff\xff\xff" + good[2:]]        # huge length
    for pkt in bad:
        s.sendto(pkt, (LOOPBACK, snmp.port))
    s.settimeout(1)
    with pytest.raises(socket.timeout):
        s.recvfrom(65536)
    v = snmp.get("ternSnmpMalformed.0", "ternSnmpPackets.0",
                 "ternVersion.0")
    assert num(v["ternSnmpMalformed.0"]) == len(bad)
    assert num(v["ternSnmpPackets.0"]) >= len(bad) + 2
    assert t.cli("show", "status").returncode == 0
    assert t.child_pids("mgmtd")
