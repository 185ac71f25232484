"""Event shipping (issue 13 line 4, docs/events.md): every accounting
record also goes, as JSON with the accounting field names, to RabbitMQ
(<acct-amqp>) and to webhooks (<acct-webhook>), at least once, through
an on-disk buffer in the spool.

One real rabbitmq-server per module (it takes seconds to start), on
loopback, with its own node name, ports, Mnesia and log directories, and
its own epmd port; a pika consumer reads what Tern published.  The
webhook receiver is a python http.server in the test."""

import base64
import collections
import json
import os
import shutil
import signal
import ssl
import subprocess
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import LOOPBACK, cli_json, free_port, make_message, scaled, \
    wait_for

pika = pytest.importorskip("pika")

RABBIT = "/usr/lib/rabbitmq/bin/rabbitmq-server"
EXCHANGE = "tern"


class Rabbit:
    """A private rabbitmq-server; stop() and start() keep its data."""

    def __init__(self, base):
        self.base = base
        self.port = free_port()
        self.dist = free_port()
        self.epmd = free_port()
        self.node = f"tern{self.port}@localhost"
        self.proc = None
        (base / "plugins").write_text("[].\n")
        (base / "rabbitmq.conf").write_text("loopback_users = none\n")

    def env(self):
        e = dict(os.environ)
        e.update({
            "HOME": str(self.base),
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_IP_ADDRESS": LOOPBACK,
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist),
            "ERL_EPMD_PORT": str(self.epmd),
            "RABBITMQ_MNESIA_BASE": str(self.base / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.base / "log"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.base / "plugins"),
            "RABBITMQ_PID_FILE": str(self.base / "pid"),
            "RABBITMQ_CONFIG_FILE": str(self.base / "rabbitmq"),
        })
        return e

    def start(self):
        log = open(self.base / "server.log", "ab")
        self.proc = subprocess.Popen([RABBIT], env=self.env(),
                                     stdin=subprocess.DEVNULL, stdout=log,
                                     stderr=subprocess.STDOUT,
                                     start_new_session=True)
        log.close()
        wait_for(self.ready, timeout=scaled(90), interval=0.5,
                 what=f"rabbitmq-server on port {self.port}")
        return self

    def ready(self):
        assert self.proc.poll() is None, \
            (self.base / "server.log").read_text()[-3000:]
        try:
            c = self.connect()
        except Exception:
            return False
        c.close()
        return True

    def connect(self):
        return pika.BlockingConnection(pika.ConnectionParameters(
            LOOPBACK, self.port, credentials=pika.PlainCredentials(
                "guest", "guest"), connection_attempts=1,
            socket_timeout=5, blocked_connection_timeout=10))

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=scaled(60))
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def kill_epmd(self):
        subprocess.run(["epmd", "-kill"], env=self.env(),
                       capture_output=True, timeout=30)


@pytest.fixture(scope="module")
def rabbit(tmp_path_factory):
    if not os.path.exists(RABBIT) or not shutil.which("epmd"):
        pytest.skip("rabbitmq-server is not installed")
    r = Rabbit(tmp_path_factory.mktemp("rabbit"))
    r.start()
    yield r
    r.stop()
    r.kill_epmd()


class Queue:
    """A durable queue bound to the exchange, read with basic_get."""

    def __init__(self, rabbit, name):
        self.rabbit, self.name = rabbit, name
        self.got = []           # (routing key, properties, body dict)
        self.conn = None
        with_channel = self._channel()
        with_channel.exchange_declare(EXCHANGE, "topic", durable=True)
        with_channel.queue_declare(name, durable=True)
        with_channel.queue_bind(name, EXCHANGE, routing_key="#")

    def _channel(self):
        if self.conn is None or self.conn.is_closed:
            self.conn = self.rabbit.connect()
        return self.conn.channel()

    def drain(self):
        """Everything in the queue now (after a broker restart too)."""
        try:
            ch = self._channel()
            while True:
                m, props, body = ch.basic_get(self.name, auto_ack=True)
                if m is None:
                    break
                self.got.append((m.routing_key, props, json.loads(body)))
            ch.close()
        except pika.exceptions.AMQPError:
            self.conn = None
        return self.got

    def close(self):
        if self.conn is not None and self.conn.is_open:
            self.conn.close()


def amqp_extra(rabbit, name="bus", records="d,b,t", more=""):
    return (f"<acct-amqp {name}>\n"
            f"    url amqp://{LOOPBACK}:{rabbit.port}/\n"
            f"    exchange {EXCHANGE}\n"
            f"    records {records}\n"
            f"    batch-size 7\n"
            f"    min-retry-interval 1s\n"
            f"    max-retry-interval 2s\n"
            f"    timeout 5s\n{more}"
            f"</acct-amqp>\n")


def row_key(header, rec):
    """A record as the tuple of the CSV's columns ("" when absent)."""
    return tuple(rec.get(c) or "" for c in header)


def same_as_csv(t, records):
    """Every CSV row is among the records and every record is a CSV
    row, field by field; returns the multiset of records per row."""
    header = t.acct_header()
    rows = collections.Counter(row_key(header, r) for r in t.acct_rows())
    got = collections.Counter(row_key(header, r) for r in records)
    assert set(got) == set(rows), (
        f"only in CSV: {list(set(rows) - set(got))[:3]}\n"
        f"only shipped: {list(set(got) - set(rows))[:3]}")
    return rows, got


def send_batch(t, n, tag, sink=None, bad_every=0):
    """n messages, one recipient each; every bad_every-th is refused by
    the sink (a b row).  Returns the recipients."""
    rcpts = []
    with t.smtp() as s:
        for i in range(n):
            bad = bad_every and i % bad_every == 0
            r = f"{'gone' if bad else 'ok'}-{tag}-{i}@example.test"
            if bad:
                sink.add_rule("RCPT", "550 5.1.1 no such user",
                              count=None, match=r)
            # null sender: no DSN rows to race with
            t.send_on(s, "", [r], make_message(
                subject=f"{tag} {i}"))
            rcpts.append(r)
    return rcpts


def wait_rows(t, n):
    t.wait_for(lambda: len(t.acct_rows()) >= n, timeout=60,
               what=f"{n} accounting rows")


def sink_status(t, name):
    return cli_json(t, "show", "status")["status"].get("events", {}) \
        .get(name, {})


def test_amqp_every_row_as_in_the_csv(make_tern, sink, rabbit):
    """Every accounting row of a run (d, b and t) arrives in a RabbitMQ
    queue, routed by record type, with the CSV's field names and values;
    each once (the broker stayed up)."""
    q = Queue(rabbit, "every-row")
    sink.add_rule("RCPT", "451 4.3.0 try later", count=2,
                  match="ok-a-1@example.test")
    t = make_tern(routes={"example.test": sink},
                  extra=amqp_extra(rabbit))
    send_batch(t, 20, "a", sink, bad_every=4)
    wait_rows(t, 22)            # 15 d + 5 b + 2 t
    t.wait_for(lambda: len(q.drain()) >= len(t.acct_rows()), timeout=60,
               what="every row in the queue")
    time.sleep(0.5)
    recs = [b for _, _, b in q.drain()]
    rows, got = same_as_csv(t, recs)
    assert got == rows                  # no duplicates without a failure
    types = collections.Counter(r["type"] for r in recs)
    assert types["d"] == 15 and types["b"] == 5 and types["t"] >= 1, types
    for key, props, body in q.got:
        assert key == body["type"]
        assert props.content_type == "application/json"
        assert props.delivery_mode == 2
    assert len({p.message_id for _, p, _ in q.got}) == len(q.got)
    st = sink_status(t, "bus")
    assert st["kind"] == "amqp" and st["state"] == "up", st
    assert st["sent"] == len(recs) and st["pending"] == 0, st
    assert st["dropped"] == 0
    q.close()


def test_amqp_broker_restarted_mid_run(make_tern, sink, rabbit):
    """RabbitMQ stopped mid-run: rows wait in the buffer (status shows
    the sink down with records pending); restarted: every row arrives.
    A record may come twice only as docs/events.md says (the same
    message id, the same content)."""
    q = Queue(rabbit, "restart")
    t = make_tern(routes={"example.test": sink},
                  extra=amqp_extra(rabbit, records="d"))
    send_batch(t, 10, "before")
    wait_rows(t, 10)
    t.wait_for(lambda: len(q.drain()) >= 10, timeout=60,
               what="the first rows in the queue")
    rabbit.stop()
    try:
        send_batch(t, 15, "during")
        wait_rows(t, 25)
        t.wait_for(lambda: sink_status(t, "bus").get("state") == "down"
                   and sink_status(t, "bus").get("pending", 0) > 0,
                   timeout=60, what="the sink down with records pending")
        assert list((t.spool / "events" / "bus").glob("*.jsonl"))
    finally:
        rabbit.start()
    send_batch(t, 5, "after")
    wait_rows(t, 30)
    t.wait_for(lambda: len({p.message_id for _, p, _ in q.drain()}) >= 30,
               timeout=90, what="all 30 rows in the queue")
    by_id = {}
    for _, p, b in q.got:
        assert by_id.setdefault(p.message_id, b) == b, "same id, other body"
    rows, got = same_as_csv(t, by_id.values())
    assert got == rows
    t.wait_for(lambda: sink_status(t, "bus").get("state") == "up" and
               sink_status(t, "bus").get("pending") == 0, timeout=30,
               what="the sink up with nothing pending")
    assert "records wait in the buffer" in t.log_text()
    q.close()


class Hook:
    """A webhook receiver: keeps every POSTed batch; `fail` answers 500."""

    def __init__(self, port=None, tls=None):
        self.port = port or free_port()
        self.tls = tls          # (certificate, key) files: https
        self.batches = []
        self.headers = []
        self.fail = 0
        self.server = None
        self.lock = threading.Lock()

    def start(self):
        hook = self

        class H(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with hook.lock:
                    if hook.fail > 0:
                        hook.fail -= 1
                        self.send_response(500)
                        self.end_headers()
                        return
                    hook.batches.append(json.loads(body))
                    hook.headers.append(dict(self.headers))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.server = ThreadingHTTPServer((LOOPBACK, self.port), H)
        if self.tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*self.tls)
            self.server.socket = ctx.wrap_socket(self.server.socket,
                                                 server_side=True)
        threading.Thread(target=self.server.serve_forever,
                         daemon=True).start()
        return self

    def stop(self):
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def records(self):
        with self.lock:
            return [r for b in self.batches for r in b]


def hook_extra(hook, name="hook", more=""):
    scheme = "https" if hook.tls else "http"
    return (f"<acct-webhook {name}>\n"
            f"    url {scheme}://{LOOPBACK}:{hook.port}/events?src=tern\n"
            f"    records d,b\n"
            f"    batch-size 4\n"
            f"    min-retry-interval 1s\n"
            f"    max-retry-interval 2s\n"
            f"    timeout 5s\n{more}"
            f"</acct-webhook>\n")


def test_webhook_down_then_up(make_tern, sink, tmp_path):
    """The receiver is not there, then answers 500, then 200: every
    record arrives, in batches of batch-size, as JSON arrays with the
    CSV's fields, with HTTP basic auth from the credentials-file."""
    creds = tmp_path / "hook.cred"
    creds.write_text("tern:s3cret\n")
    creds.chmod(0o600)
    hook = Hook()
    t = make_tern(routes={"example.test": sink}, extra=hook_extra(
        hook, more=f"    credentials-file {creds}\n"))
    try:
        send_batch(t, 12, "w", sink, bad_every=3)
        wait_rows(t, 12)
        t.wait_for(lambda: sink_status(t, "hook").get("state") == "down",
                   timeout=30, what="the webhook sink down")
        assert sink_status(t, "hook")["pending"] == 12
        hook.fail = 2
        hook.start()
        t.wait_for(lambda: len(hook.records()) >= 12, timeout=60,
                   what="12 records at the webhook")
        rows, got = same_as_csv(t, hook.records())
        assert got == rows
        assert all(len(b) <= 4 for b in hook.batches)
        auth = "Basic " + base64.b64encode(b"tern:s3cret").decode()
        assert all(h["Authorization"] == auth for h in hook.headers)
        assert all(h["Content-Type"] == "application/json"
                   for h in hook.headers)
        st = sink_status(t, "hook")
        assert st["state"] == "up" and st["pending"] == 0, st
        assert st["failures"] >= 3 and st["sent"] == 12, st
    finally:
        hook.stop()


def test_webhook_long_password(make_tern, sink, tmp_path):
    """A password as long as a token (1,500 characters; ternd reads up to
    4 KiB) goes out as HTTP basic auth whole, not dropped."""
    password = "t0ken." + "x" * 1494
    creds = tmp_path / "hook.cred"
    creds.write_text(f"tern:{password}\n")
    creds.chmod(0o600)
    hook = Hook().start()
    t = make_tern(routes={"example.test": sink}, extra=hook_extra(
        hook, more=f"    credentials-file {creds}\n"))
    try:
        send_batch(t, 2, "p", sink)
        t.wait_for(lambda: len(hook.records()) >= 2, timeout=60,
                   what="2 records at the webhook")
        auth = "Basic " + base64.b64encode(
            f"tern:{password}".encode()).decode()
        assert all(h["Authorization"] == auth for h in hook.headers)
    finally:
        hook.stop()


def test_buffer_filled_in_one_turn_stays_full(make_tern, sink):
    """Twenty recipients of one message are accounted in one turn of
    bounced: the first fill the 4 KB buffer and the rest are dropped.
    The buffer has no more room after that turn, so the status says
    "full" (it said "down": the records that fit cleared the state)."""
    hook = Hook()
    t = make_tern(routes={"example.test": sink}, extra=hook_extra(
        hook, more="    buffer-max-size 4k\n"))
    try:
        rcpts = [f"one-{i}@example.test" for i in range(20)]
        t.send("", rcpts, make_message())
        wait_rows(t, 20)
        t.wait_for(lambda: sink_status(t, "hook").get("dropped", 0) > 0,
                   timeout=30, what="dropped records counted")
        st = sink_status(t, "hook")
        assert st["state"] == "full", st
        assert "buffer has room again" not in t.log_text()
    finally:
        hook.stop()


def test_full_buffer_is_reported(make_tern, sink):
    """A buffer at its buffer-max-size takes no more records: each one
    is counted as dropped, logged and shown by `tern show status` (and
    the accounting file still has it); what was buffered arrives when
    the receiver comes back."""
    hook = Hook()
    web = free_port()
    t = make_tern(routes={"example.test": sink}, extra=hook_extra(
        hook, more="    buffer-max-size 4k\n") +
        f"http-mgmt-port {web}\nhttp-access 127.0.0.1 monitor\n")
    try:
        send_batch(t, 20, "full")
        wait_rows(t, 20)
        t.wait_for(lambda: sink_status(t, "hook").get("dropped", 0) > 0,
                   timeout=30, what="dropped records counted")
        st = sink_status(t, "hook")
        assert st["state"] == "full", st
        assert st["pending"] + st["dropped"] == 20, st
        assert st["pendingBytes"] <= 4096, st
        assert "buffer full" in t.log_text()
        text = t.cli("show", "status").stdout
        assert "events.hook.dropped" in text, text
        metrics = urllib.request.urlopen(
            f"http://{LOOPBACK}:{web}/metrics", timeout=scaled(15)) \
            .read().decode()
        assert f'tern_events_dropped_total{{sink="hook"}} ' \
            f'{st["dropped"]}' in metrics, metrics
        assert f'tern_events_pending{{sink="hook"}} {st["pending"]}' \
            in metrics
        from prometheus_client.parser import text_string_to_metric_families
        names = {f.name for f in text_string_to_metric_families(metrics)}
        assert {"tern_events_sent", "tern_events_dropped",
                "tern_events_pending"} <= names, names
        hook.start()
        t.wait_for(lambda: len(hook.records()) >= st["pending"],
                   timeout=60, what="the buffered records")
        assert len(hook.records()) == st["pending"]
        header = t.acct_header()
        csv_rows = {row_key(header, r) for r in t.acct_rows()}
        assert {row_key(header, r) for r in hook.records()} <= csv_rows
    finally:
        hook.stop()


def self_signed(dir, name):
    """A certificate for 127.0.0.1 (IP SAN) and its key."""
    cert, key = dir / f"{name}.crt", dir / f"{name}.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048",
                    "-nodes", "-days", "2", "-subj", f"/CN={name}",
                    "-addext", f"subjectAltName=IP:{LOOPBACK}",
                    "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    return cert, key


def test_webhook_https_verifies_the_certificate(make_tern, sink, tmp_path):
    """https://: records arrive when the receiver's certificate chains to
    the block's ca-file and names the url's host; a sink whose ca-file
    does not vouch for it sends nothing and says why."""
    cert, key = self_signed(tmp_path, "hook")
    other, _ = self_signed(tmp_path, "other")
    hook = Hook(tls=(cert, key)).start()
    t = make_tern(routes={"example.test": sink},
                  extra=hook_extra(hook, "good", f"    ca-file {cert}\n") +
                  hook_extra(hook, "bad", f"    ca-file {other}\n"))
    try:
        send_batch(t, 6, "tls")
        t.wait_for(lambda: len(hook.records()) >= 6, timeout=60,
                   what="6 records over https")
        rows, got = same_as_csv(t, hook.records())
        assert got == rows
        t.wait_for(lambda: sink_status(t, "bad").get("state") == "down",
                   timeout=30, what="the sink with the wrong CA down")
        bad = sink_status(t, "bad")
        assert "certificate" in bad["lastError"], bad
        assert bad["sent"] == 0 and bad["pending"] == 6, bad
        assert len(hook.records()) == 6
    finally:
        hook.stop()


def test_reload_moves_a_sink(make_tern, sink):
    """`tern reload` with a sink's url changed: the records waiting for
    the old endpoint go to the new one, nothing is lost or doubled."""
    gone, hook = Hook(), Hook()
    t = make_tern(routes={"example.test": sink}, extra=hook_extra(gone))
    try:
        send_batch(t, 5, "reload")
        wait_rows(t, 5)
        t.wait_for(lambda: sink_status(t, "hook").get("state") == "down",
                   timeout=30, what="the sink down")
        hook.start()
        t.extra = hook_extra(hook)
        t.write_config()
        r = t.cli("reload")
        assert r.returncode == 0, (r.stdout, r.stderr)
        t.wait_for(lambda: len(hook.records()) >= 5, timeout=60,
                   what="the waiting records at the new url")
        send_batch(t, 3, "reloaded")
        t.wait_for(lambda: len(hook.records()) >= 8, timeout=60,
                   what="8 records at the new url")
        rows, got = same_as_csv(t, hook.records())
        assert got == rows
    finally:
        hook.stop()


def test_bounced_killed_loses_nothing(make_tern, sink):
    """bounced SIGKILLed while records flow: ternd restarts it, the
    buffer is read again from its cursor, and every CSV row reaches the
    webhook; a record that comes twice is a whole copy of a CSV row
    (docs/events.md: at least once)."""
    hook = Hook().start()
    t = make_tern(routes={"example.test": sink}, extra=hook_extra(hook))
    try:
        send_batch(t, 15, "k1")
        pid = t.child_pid("bounced")
        os.kill(pid, signal.SIGKILL)
        t.wait_for(lambda: (p := t.child_pids("bounced")) and
                   pid not in p, timeout=30, what="bounced restarted")
        send_batch(t, 15, "k2")
        wait_rows(t, 30)
        header = t.acct_header()
        t.wait_for(lambda: {row_key(header, r) for r in hook.records()} >=
                   {row_key(header, r) for r in t.acct_rows()},
                   timeout=60, what="every row at the webhook")
        rows, got = same_as_csv(t, hook.records())
        assert sum(got.values()) >= sum(rows.values())
    finally:
        hook.stop()
