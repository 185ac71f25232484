"""The `tern` verbs that reach past queued: `set queue --mode` (deliverd
honours the mode the operator sets), `resolve` (deliverd's resolver
against conftest's DnsServer) and `trace` (delivery outcomes streamed
over the control socket while mail flows)."""

import json
import os
import re
import queue
import signal
import subprocess
import threading
import time

from conftest import cli_json, make_message, queue_row, scaled, wait_for

SENDER = "sender@client.test"
QUEUE = "example.test/{default}"


# ------------------------------------------------------ set queue --mode

def test_set_queue_mode_backoff_is_honoured_then_normal(make_tern, sink):
    """Backoff set by the operator before mail arrives: deliverd keeps to
    backoff-max-msg-rate (1 an hour: one message, then nothing) and the
    queue shows mode backoff; --mode=normal lets the rest go at once."""
    t = make_tern(routes={"example.test": sink}, deliverd_processes=1,
                  domain_settings={"example.test":
                                   "backoff-max-msg-rate 1/h"})
    r = t.cli("set", "queue", "--mode=backoff", QUEUE)
    assert r.returncode == 0, r.stderr
    assert "1 queue set to backoff mode" in r.stdout
    assert queue_row(t)["mode"] == "backoff"
    assert [q["queue"] for q in cli_json(t, "show", "queues", "--mode",
                                         "backoff")] == [QUEUE]
    for i in range(3):
        t.send(SENDER, [f"r{i}@example.test"], make_message())
    t.wait_messages(sink, 1)
    wait_for(lambda: queue_row(t)["rcpts"] == 2, what="2 left waiting")
    # The rate holds: the other two stay (a generous look, not a timing).
    time.sleep(scaled(3))
    assert len(sink.messages) == 1
    assert queue_row(t)["mode"] == "backoff"
    r = t.cli("show", "queues", "--mode=backoff")
    assert QUEUE in r.stdout and "backoff" in r.stdout
    assert re.search(r"queue example\.test/\S+: backoff mode \(set by the "
                     r"operator\)", t.log_text())

    r = t.cli("set", "queue", "--mode=normal", QUEUE)
    assert r.returncode == 0 and "set to normal mode" in r.stdout
    t.wait_messages(sink, 3)
    wait_for(lambda: queue_row(t)["mode"] == "normal", what="normal mode")
    assert cli_json(t, "show", "queues", "--mode=backoff") == []


def test_set_queue_mode_survives_deliverd_restart(make_tern, sink):
    """queued remembers the forced mode and tells a restarted deliverd."""
    t = make_tern(routes={"example.test": sink}, deliverd_processes=1,
                  domain_settings={"example.test":
                                   "backoff-max-msg-rate 1/h"})
    t.cli("set", "queue", "--mode=backoff", QUEUE)
    old = t.child_pid("deliverd")
    os.kill(old, signal.SIGKILL)
    wait_for(lambda: t.child_pids("deliverd") and
             t.child_pids("deliverd") != [old], what="deliverd restarted")
    for i in range(2):
        t.send(SENDER, [f"r{i}@example.test"], make_message())
    t.wait_messages(sink, 1)
    time.sleep(scaled(3))
    assert len(sink.messages) == 1, "backoff kept after the restart"
    t.cli("set", "queue", "--mode=normal", QUEUE)
    t.wait_messages(sink, 2)


def test_set_queue_usage(tern):
    r = tern.cli("set", "queue", "--mode=fast", QUEUE)
    assert r.returncode == 1 and "usage" in r.stderr
    r = tern.cli("set", "queue", QUEUE)
    assert r.returncode == 2
    r = tern.cli("--json", "set", "queue", "--mode", "normal", QUEUE)
    assert r.returncode == 0 and json.loads(r.stdout)["ok"] is True


# ------------------------------------------------------------- resolve

def test_resolve_as_deliverd_sees_it(make_tern, catchall, dns_zone):
    dns = dns_zone({
        "res.test": {"MX": [(20, "mx2.res.test"), (10, "mx1.res.test")]},
        "mx1.res.test": {"A": ["127.0.0.2"], "AAAA": ["::1"]},
        "mx2.res.test": {"A": ["127.0.0.3", "127.0.0.4"]},
        "nomx.test": {"A": ["127.0.0.5"]},
        "null.test": {"MX": [(0, ".")]},
    }, ttl=600)
    t = make_tern(default_route=None, routes={"client.test": catchall},
                  extra=f"name-server {dns.addr}\n")
    j = cli_json(t, "resolve", "res.test")
    assert j["ok"] is True and j["domain"] == "res.test"
    assert [(h["pref"], h["host"]) for h in j["mx"]] == [
        (10, "mx1.res.test"), (20, "mx2.res.test")]
    assert j["mx"][0]["addresses"] == ["127.0.0.2", "::1"]
    assert sorted(j["mx"][1]["addresses"]) == ["127.0.0.3", "127.0.0.4"]
    assert 0 < j["ttl"] <= 600

    # The answer is deliverd's cache: asking again does not query DNS.
    n = dns.count("res.test", "MX")
    assert n == 1
    r = t.cli("resolve", "res.test")
    assert r.returncode == 0, r.stderr
    assert dns.count("res.test", "MX") == n
    lines = r.stdout.splitlines()
    assert lines[0].startswith("res.test: 2 MX hosts")
    assert lines[1].split() == ["pref", "host", "addresses"]
    assert lines[2].split()[:2] == ["10", "mx1.res.test"]
    assert "127.0.0.2, ::1" in lines[2]

    # No MX: the domain itself (implicit MX), as deliverd delivers.
    j = cli_json(t, "resolve", "nomx.test")
    assert [h["host"] for h in j["mx"]] == ["nomx.test"]
    assert j["mx"][0]["addresses"] == ["127.0.0.5"]

    r = t.cli("resolve", "nosuch.test")
    assert r.returncode == 1 and "no such domain" in r.stdout + r.stderr
    r = t.cli("--json", "resolve", "null.test")
    assert r.returncode == 1 and json.loads(r.stdout)["ok"] is False
    r = t.cli("resolve", "bad/name")
    assert r.returncode == 1 and "not a domain name" in r.stderr
    assert t.cli("resolve").returncode == 2


# --------------------------------------------------------------- trace

class Trace:
    """`tern trace` running in the background, its lines read as they
    come."""

    def __init__(self, t, *args):
        self.p = subprocess.Popen(
            [str(t.tern_cli), "-f", str(t.conf), "trace", *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        # A thread reads the lines: select() on the pipe would miss a
        # second line that came in the same read as the first (it then
        # waits in the file object's buffer, not in the pipe).
        self.lines = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.p.stdout:
            self.lines.put(line)
        self.lines.put("")

    def line(self):
        try:
            line = self.lines.get(timeout=scaled(30))
        except queue.Empty:
            raise AssertionError("no trace line in time") from None
        assert line, "trace ended: " + self.p.stderr.read()
        return line.rstrip("\n")

    def stop(self):
        self.p.send_signal(signal.SIGINT)
        return self.p.wait(scaled(10))


def test_trace_streams_the_queue_until_ctrl_c(make_tern, sink, catchall):
    t = make_tern(routes={"example.test": sink, "other.test": catchall},
                  retry_after="1h")
    tr = Trace(t, "--json", "example.test")
    assert json.loads(tr.line()) == {"tracing": "example.test"}
    sink.add_rule("RCPT", "451 4.7.1 greylisted", count=1)
    t.send(SENDER, ["a@example.test", "c@other.test"], make_message())
    t.send(SENDER, ["b@example.test"], make_message())
    events = [json.loads(tr.line()) for _ in range(2)]
    assert {e["rcpt"] for e in events} == {"a@example.test",
                                           "b@example.test"}
    assert {e["result"] for e in events} == {"deferred", "delivered"}
    for e in events:
        assert e["queue"] == QUEUE and e["qid"] and e["time"] > 0
    dfr = next(e for e in events if e["result"] == "deferred")
    assert "greylisted" in dfr["diag"] and dfr["dsn"] == "4.7.1"
    catchall.wait_for_messages(1)
    # Retried now: the deferred one is delivered, and shows up.
    t.cli("schedule", QUEUE)
    e = json.loads(tr.line())
    assert (e["rcpt"], e["result"]) == (dfr["rcpt"], "delivered")
    assert tr.stop() == 0

    # Every queue, human lines; the trace above left nothing behind.
    tr = Trace(t)
    assert tr.line() == "tracing * (Ctrl-C to stop)"
    t.send(SENDER, ["d@other.test"], make_message())
    line = tr.line()
    assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d delivered +"
                    r"other\.test/\{default\} \S+ <d@other\.test> via ",
                    line), line
    assert tr.stop() == 0
    assert t.cli("show", "status").returncode == 0


def test_trace_usage_and_ternd_down(tern):
    assert tern.cli("trace", "a", "b").returncode == 2
    tern.stop()
    r = tern.cli("trace")
    assert r.returncode == 1 and "ternd is not running" in r.stderr


# --------------------------------------------- connections from deliverd

def test_connections_from_deliverd_in_every_view(make_tern, sink):
    """The connection counts are deliverd's (DLV_QUEUE_STATS through
    queued): while max-msg-rate spaces 4 messages 2 s apart, the open
    connection is shown per queue, per domain, per VMTA and in status's
    smtpOut; once all is delivered and it closed, 0 everywhere."""
    t = make_tern(routes={"example.test": sink}, deliverd_processes=1,
                  domain_settings={"example.test": "max-msg-rate 30/m"})
    with t.smtp() as s:
        for i in range(4):
            t.send_on(s, SENDER, [f"r{i}@example.test"], make_message())
    wait_for(lambda: queue_row(t)["connections"] >= 1, what="queue conn")
    wait_for(lambda: cli_json(t, "show", "domains")[0]["connections"] >= 1,
             what="domain conn")
    wait_for(lambda: cli_json(t, "show", "vmtas")[0]["connections"] >= 1,
             what="vmta conn")
    wait_for(lambda: cli_json(t, "show", "status")["status"]["smtpOut"]
             >= 1, what="smtpOut")
    r = t.cli("show", "domains")
    assert r.stdout.splitlines()[0].split()[:4] == ["domain", "rcpts",
                                                    "queues", "conn"]
    t.wait_messages(sink, 4, timeout=60)

    def views():
        return (queue_row(t)["connections"],
                cli_json(t, "show", "domains")[0]["connections"],
                cli_json(t, "show", "vmtas")[0]["connections"],
                cli_json(t, "show", "status")["status"]["smtpOut"])
    wait_for(lambda: views() == (0, 0, 0, 0), timeout=30,
             what="connections closed everywhere")
