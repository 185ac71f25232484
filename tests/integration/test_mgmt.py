"""mgmtd and the `tern` CLI: every verb against a running suite, the HTTP
interface (access levels, credentials, JSON/XML shapes, admin POSTs) and
Prometheus metrics read by the real Prometheus text parser."""

import base64
import http.client
import json
import ssl
import subprocess
import warnings
import xml.etree.ElementTree as ET

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import crypt  # deprecated in 3.11, still the way to call crypt(3)
import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import (LOOPBACK, cli_json, free_port, make_message,
                      queue_row, scaled, wait_for)

SENDER = "sender@client.test"
QUEUE = "example.test/{default}"


# ------------------------------------------------------------ the CLI

def test_pause_show_resume_delivers(tern, sink):
    r = tern.cli("pause", "queue", QUEUE)
    assert r.returncode == 0 and "1 queue paused" in r.stdout
    tern.send(SENDER, ["a@example.test", "b@example.test"], make_message())
    q = wait_for(lambda: (queue_row(tern) or {}).get("rcpts") == 2 and
                 queue_row(tern), what="2 recipients in the paused queue")
    assert q["paused"] is True and q["domain"] == "example.test"
    assert q["vmta"] == "{default}"
    assert set(q) >= {"queue", "rcpts", "inflight", "paused", "mode",
                      "retryIn", "lastError", "delivered", "bounced",
                      "deferred"}
    assert sink.messages == []

    # The human table: aligned columns, the queue with 2 recipients.
    r = tern.cli("show", "queues")
    assert r.returncode == 0
    lines = r.stdout.splitlines()
    assert lines[0].split()[:3] == ["queue", "rcpts", "inflight"]
    row = next(line for line in lines if line.startswith(QUEUE))
    assert row.split()[1] == "2" and "yes" in row.split()
    end = lines[0].index("rcpts") + len("rcpts")
    assert row[end - 1] == "2" and row[end] == " ", "rcpts right-aligned"
    assert lines[-1] == "1 queue."

    r = tern.cli("resume", "queue", QUEUE)
    assert r.returncode == 0 and "1 queue resumed" in r.stdout
    tern.wait_messages(sink, 1)
    wait_for(lambda: queue_row(tern)["rcpts"] == 0 and
             queue_row(tern)["delivered"] == 2, what="queue emptied")


def test_status_domains_vmtas_topqueues(make_tern, sink):
    t = make_tern(routes={"example.test": sink},
                  extra="<virtual-mta v1>\n</virtual-mta>\n")
    # Pausing names a queue before mail arrives (pmta does the same).
    t.cli("pause", "queue", "example.test/{default}")
    t.cli("pause", "queue", "other.test/{default}")
    t.cli("pause", "queue", "example.test/v1")
    t.send(SENDER, ["a@example.test", "b@example.test", "c@other.test"],
           make_message())
    wait_for(lambda: cli_json(t, "show", "status")["status"]["queue"]
             ["recipients"] == 3, what="3 recipients queued")

    st = cli_json(t, "show", "status")
    assert st["status"]["received"] == 1  # messages
    # accepted over SMTP: 1 message for 3 recipients
    assert st["status"]["receivedMessages"] == 1
    assert st["status"]["receivedRecipients"] == 3
    names = {p["name"] for p in st["processes"]}
    assert names >= {"smtpd", "queued", "deliverd", "bounced", "mgmtd"}

    doms = {d["domain"]: d for d in cli_json(t, "show", "domains")}
    assert doms["example.test"]["rcpts"] == 2
    assert doms["other.test"]["rcpts"] == 1
    assert doms["example.test"]["paused"] is True

    vmtas = {v["vmta"]: v for v in cli_json(t, "show", "vmtas")}
    assert vmtas["{default}"]["rcpts"] == 3
    assert vmtas["{default}"]["queues"] == 2
    assert vmtas["v1"]["rcpts"] == 0 and vmtas["v1"]["queues"] == 1

    top = cli_json(t, "show", "topqueues")
    assert [q["queue"] for q in top] == ["example.test/{default}",
                                         "other.test/{default}",
                                         "example.test/v1"]
    only = cli_json(t, "show", "queues", "--domain", "other.test")
    assert [q["queue"] for q in only] == ["other.test/{default}"]
    only = cli_json(t, "show", "queues", "--vmta=v1")
    assert [q["queue"] for q in only] == ["example.test/v1"]
    assert len(cli_json(t, "show", "topqueues", "--maxitems=1")) == 1
    only = cli_json(t, "show", "queues", "other.test/*")
    assert [q["queue"] for q in only] == ["other.test/{default}"]

    r = t.cli("show", "domains")
    assert r.returncode == 0 and r.stdout.splitlines()[-1] == "2 domains."
    r = t.cli("show", "vmtas")
    assert r.returncode == 0 and "v1" in r.stdout
    # No X-Job support in smtpd yet: the listing is empty but well-formed.
    assert cli_json(t, "show", "jobs") == [] or \
        all({"jobId", "messages", "rcpts"} <= set(j)
            for j in cli_json(t, "show", "jobs"))
    r = t.cli("show", "status")
    assert r.returncode == 0 and "queue.recipients" in r.stdout
    lines = {ln.split()[0]: ln.split()[-1] for ln in r.stdout.splitlines()
             if ln.strip()}
    assert lines["receivedMessages"] == "1"
    assert lines["receivedRecipients"] == "3"
    # the session that sent is closed (reported within a second or so)
    wait_for(lambda: cli_json(t, "show", "status")["status"]
             ["connectionsIn"] == 0, what="no inbound session")
    with t.smtp():
        wait_for(lambda: [ln.split() for ln in t.cli(
            "show", "status").stdout.splitlines()
            if ln.split()[:1] == ["connectionsIn"]] ==
            [["connectionsIn", "1"]],
            what="connectionsIn 1 in the human listing")


def test_errors_and_mode_filters(make_tern, sink):
    dead = free_port()
    t = make_tern(routes={"example.test": sink,
                          "dead.test": f"{LOOPBACK}:{dead}"},
                  retry_after="1h")
    t.send(SENDER, ["a@dead.test", "b@example.test"], make_message())
    t.wait_messages(sink, 1)
    wait_for(lambda: cli_json(t, "show", "queues", "--errors"),
             what="a queue with an error")
    errs = cli_json(t, "show", "queues", "--errors")
    assert [q["queue"] for q in errs] == ["dead.test/{default}"]
    assert "refused" in errs[0]["lastError"]
    r = t.cli("show", "queues", "--errors")
    assert "dead.test/{default}" in r.stdout
    assert "example.test" not in r.stdout
    assert cli_json(t, "show", "queues", "--mode=backoff") == []


def test_schedule_retries_now(make_tern, sink):
    t = make_tern(routes={"example.test": sink}, retry_after="1h")
    sink.add_rule("RCPT", "451 4.3.0 try later", count=1)
    t.send(SENDER, ["a@example.test"], make_message())
    wait_for(lambda: (queue_row(t) or {}).get("deferred") == 1,
             what="the first attempt deferred")
    # Waiting for its retry, an hour from now.
    assert cli_json(t, "show", "status")["status"]["retryPending"] == 1
    r = t.cli("schedule", QUEUE)
    assert r.returncode == 0 and "1 queue scheduled" in r.stdout
    t.wait_messages(sink, 1, timeout=15)


def test_delete_queue(tern, sink):
    tern.cli("pause", "queue", QUEUE)
    tern.send(SENDER, ["a@example.test"], make_message())
    tern.send(SENDER, ["b@example.test", "c@example.test"], make_message())
    wait_for(lambda: (queue_row(tern) or {}).get("rcpts") == 3,
             what="3 recipients queued")
    r = tern.cli("delete", "--queue=" + QUEUE)
    assert r.returncode == 0, r.stderr
    assert "3 recipients deleted from 1 queue" in r.stdout
    wait_for(lambda: cli_json(tern, "show", "status")["status"]["queue"]
             ["messages"] == 0, what="the spool emptied")
    # ... for good: a restart recovers none of them
    tern.restart()
    assert cli_json(tern, "show", "status")["status"]["queue"][
        "messages"] == 0
    tern.cli("resume", "queue", QUEUE)
    # What was deleted is gone: a new message is the only one delivered.
    tern.send(SENDER, ["d@example.test"], make_message(subject="after"))
    tern.wait_messages(sink, 1)
    assert [m.rcpt_tos for m in sink.messages] == [["d@example.test"]]

    r = tern.cli("--json", "delete", "--jobId", "nosuchjob")
    assert r.returncode == 0
    assert json.loads(r.stdout)["message"].startswith("0 recipients")


def test_usage_errors_and_exit_codes(tern, tern_build, tmp_path):
    assert tern.cli("delete").returncode == 2
    assert tern.cli("show", "bogus").returncode == 2
    assert tern.cli("pause", "queue").returncode == 2
    r = tern.cli("show", "queues", "--bogus")
    assert r.returncode == 1 and "unknown option" in r.stderr
    assert tern.cli("resolve").returncode == 2
    r = tern.cli("--json", "show", "version")
    assert r.returncode == 0 and json.loads(r.stdout)["product"] == "Tern"

    # pmta, the drop-in name, is the same program.
    pmta = tern_build / "cli" / "pmta"
    r = subprocess.run([str(pmta), "-f", str(tern.conf), "show", "queues"],
                       capture_output=True, text=True, timeout=scaled(30))
    assert r.returncode == 0 and r.stdout.endswith("queues.\n")

    # ternd down: a clear message and exit 1.
    tern.stop()
    r = tern.cli("show", "status")
    assert r.returncode == 1 and "ternd is not running" in r.stderr


# ------------------------------------------------------------ HTTP

def htpasswd(path):
    """An htpasswd file: admin (bcrypt) and watch (SHA-512 crypt)."""
    path.write_text(
        "admin:" + crypt.crypt("s3cret", crypt.mksalt(crypt.METHOD_BLOWFISH))
        + "\nwatch:" + crypt.crypt("look", crypt.mksalt(crypt.METHOD_SHA512))
        + "\n")
    return path


class Http:
    """Requests to mgmtd from a chosen 127.0.0.x source address."""

    def __init__(self, port, source=LOOPBACK, user=None):
        self.port = port
        self.source = source
        self.user = user

    def request(self, method, path, headers=None):
        c = http.client.HTTPConnection(LOOPBACK, self.port,
                                       timeout=scaled(15),
                                       source_address=(self.source, 0))
        h = dict(headers or {})
        if self.user:
            h["Authorization"] = "Basic " + base64.b64encode(
                self.user.encode()).decode()
        c.request(method, path, headers=h)
        r = c.getresponse()
        body = r.read()
        c.close()
        return r.status, dict((k.lower(), v) for k, v in r.getheaders()), \
            body

    def get_json(self, path):
        status, _, body = self.request("GET", path)
        assert status == 200, (path, status, body)
        return json.loads(body)


HTTP_ACCESS = ("http-access 127.0.0.1 admin\n"
               "http-access 127.0.0.2 monitor\n"
               "http-access 127.0.0.3 none\n")


@pytest.fixture
def web(make_tern, sink, tmp_path):
    port = free_port()
    pw = htpasswd(tmp_path / "htpasswd")
    t = make_tern(routes={"example.test": sink},
                  extra=f"http-mgmt-port {port}\n"
                        f"http-mgmt-interface {LOOPBACK}\n"
                        f"http-mgmt-auth {pw}\n" + HTTP_ACCESS)
    t.http_port = port
    return t


def test_http_auth_and_access(web):
    port = web.http_port
    status, headers, _ = Http(port).request("GET", "/api/v1/stats")
    assert status == 401
    assert headers["www-authenticate"].startswith("Basic realm=")
    status, _, _ = Http(port, user="admin:wrong").request("GET",
                                                          "/api/v1/stats")
    assert status == 401
    status, _, _ = Http(port, user="nobody:s3cret").request("GET", "/status")
    assert status == 401
    # bcrypt and SHA-512 crypt users both work.
    assert Http(port, user="admin:s3cret").get_json("/api/v1/stats")
    assert Http(port, "127.0.0.2", "watch:look").get_json("/api/v1/stats")
    # Address not allowed (none; not listed): 403 even with credentials.
    for src in ("127.0.0.3", "127.0.0.4"):
        status, _, _ = Http(port, src, "admin:s3cret").request(
            "GET", "/api/v1/stats")
        assert status == 403, src


def test_http_admin_vs_monitor(web, sink):
    port = web.http_port
    admin = Http(port, user="admin:s3cret")
    monitor = Http(port, "127.0.0.2", "admin:s3cret")

    status, _, _ = monitor.request("POST", "/api/v1/pause?queue=" + QUEUE)
    assert status == 403
    assert queue_row(web) is None or not queue_row(web)["paused"]
    status, _, _ = monitor.request("GET", "/api/v1/pause?queue=" + QUEUE)
    assert status == 405, "a GET never changes anything"

    status, _, body = admin.request(
        "POST", "/api/v1/pause?queue=example.test%2F%7Bdefault%7D")
    assert status == 200 and json.loads(body) == {
        "ok": True, "message": "1 queue paused"}
    assert queue_row(web)["paused"] is True

    # A browser on another site cannot use the admin's credentials.
    status, _, _ = admin.request("POST", "/api/v1/resume?queue=" + QUEUE,
                                 {"Origin": "http://evil.test"})
    assert status == 403
    assert queue_row(web)["paused"] is True

    web.send(SENDER, ["a@example.test"], make_message())
    wait_for(lambda: admin.get_json("/api/v1/queues?domain=example.test")
             [0]["rcpts"] == 1, what="the message in the paused queue")
    status, _, body = admin.request("POST", "/api/v1/resume?queue=" + QUEUE)
    assert status == 200 and json.loads(body)["ok"] is True
    web.wait_messages(sink, 1)

    status, _, body = admin.request("POST", "/api/v1/pause")
    assert status == 400
    status, _, body = admin.request("POST", "/api/v1/delete?jobId=x")
    assert status == 200 and json.loads(body)["ok"] is True


def test_http_pmta_urls_json_and_xml(web, sink):
    h = Http(web.http_port, user="watch:look")
    web.send(SENDER, ["a@example.test"], make_message())
    web.wait_messages(sink, 1)
    wait_for(lambda: h.get_json("/api/v1/stats")["status"]["delivered"] == 1,
             what="delivered counted")

    st = h.get_json("/status?format=json")
    assert st["status"] == "success" and st["message"] == ""
    assert st["data"]["status"]["traffic"]["total"]["out"]["rcp"] == 1
    assert st["data"]["status"]["traffic"]["total"]["in"]["rcp"] == 1
    assert st["data"]["status"]["queue"]["smtp"]["kb"] == 0

    q = h.get_json("/queues?format=json")
    assert q["status"] == "success"
    row = next(r for r in q["data"] if r["name"] == QUEUE)
    assert row["rcp"] == 0 and row["delivered"] == 1

    for path, item, name in (("/queues", "queue", QUEUE),
                             ("/domains", "domain", "example.test"),
                             ("/vmtas", "vmta", "{default}")):
        status, headers, body = h.request("GET", path + "?format=xml")
        assert status == 200 and headers["content-type"] == "application/xml"
        root = ET.fromstring(body)
        assert root.tag == "rsp" and root.find("succ") is not None
        names = [e.findtext("name") for e in root.iter(item)]
        assert name in names, (path, body)

    d = h.get_json("/domains?format=json")["data"]
    assert next(r for r in d if r["name"] == "example.test")["delivered"] == 1
    j = h.get_json("/jobs?format=json")
    assert j["status"] == "success" and isinstance(j["data"], list)
    status, _, body = h.request("GET", "/jobs?format=xml")
    assert status == 200 and ET.fromstring(body).find("data") is not None

    stats = h.get_json("/api/v1/stats")
    assert set(stats) >= {"status", "processes", "traffic", "timeNow"}
    assert len(stats["traffic"]["minutes"]) == 60
    status, _, _ = h.request("GET", "/nosuchpage")
    assert status == 404
    status, _, body = h.request("GET", "/api/v1/queues?maxitems=lots")
    assert status == 400 and "maxitems" in json.loads(body)["message"]


def test_http_pmta_status_counts_recipients(web, sink):
    """pmta's /status counts recipients in traffic, in as out: one
    message to three recipients is 3 in and 3 out, in total and in the
    last hour (not 1 in, the message count)."""
    h = Http(web.http_port, user="watch:look")
    web.send(SENDER, ["a@example.test", "b@example.test", "c@example.test"],
             make_message())
    wait_for(lambda: h.get_json("/api/v1/stats")["status"]["delivered"] == 3,
             what="3 deliveries counted")

    def traffic():
        return h.get_json("/status?format=json")["data"]["status"]["traffic"]

    t = traffic()
    assert t["total"]["in"]["rcp"] == 3 and t["total"]["out"]["rcp"] == 3
    # The last hour is sampled every few seconds; in and out come from
    # one sample, and the recipients came in before they went out.
    def sampled():
        t = traffic()
        return t["lastHr"]["out"]["rcp"] == 3 and t

    t = wait_for(sampled, what="the last hour sampled")
    assert t["lastHr"]["in"]["rcp"] == 3


def test_metrics_parse_with_prometheus(web, sink):
    h = Http(web.http_port, user="watch:look")
    sink.add_rule("RCPT", "550 5.1.1 no such user", count=1,
                  match="bad@example.test")
    web.send(SENDER, ["good@example.test", "bad@example.test"],
             make_message())
    web.wait_acct("b", "bad@example.test")
    web.wait_messages(sink, 1)
    web.wait_acct("d", SENDER)      # the DSN about bad@ reached the sender

    def families():
        status, headers, body = h.request("GET", "/metrics")
        assert status == 200
        assert headers["content-type"].startswith("text/plain; version=0.0.4")
        return {f.name: f for f in
                text_string_to_metric_families(body.decode())}

    def sample(fams, name, **labels):
        for s in fams[name].samples:
            if all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
        return None

    fams = wait_for(lambda: (lambda f: sample(
        f, "tern_delivered", domain="example.test") == 1 and sample(
        f, "tern_spool_messages") == 0 and f)(families()),
        what="delivered counter")
    assert fams["tern_delivered"].type == "counter"
    assert sample(fams, "tern_bounced", domain="example.test",
                  vmta="{default}") == 1
    assert sample(fams, "tern_deferred", domain="example.test") == 0
    assert fams["tern_queue_recipients"].type == "gauge"
    assert sample(fams, "tern_queue_recipients", domain="example.test") == 0
    assert sample(fams, "tern_received") >= 1
    # over SMTP: the message sent, 2 recipients (not the DSN)
    assert fams["tern_received_messages"].type == "counter"
    assert sample(fams, "tern_received_messages") == 1
    assert sample(fams, "tern_received_recipients") == 2
    assert fams["tern_smtp_in_connections"].type == "gauge"
    assert sample(fams, "tern_smtp_in_connections") is not None
    assert sample(fams, "tern_spool_messages") == 0
    assert sample(fams, "tern_spool_bytes") == 0
    assert sample(fams, "tern_queue_connections",
                  domain="example.test") is not None
    assert sample(fams, "tern_process_restarts", process="queued") == 0


def test_https_with_certificate(make_tern, tmp_path):
    """http-mgmt-tls-certificate: the interface speaks only TLS, with the
    certificate ternd read (mgmtd is chrooted and never opens it)."""
    key, crt = tmp_path / "key.pem", tmp_path / "crt.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
                    "-subj", "/CN=tern-mgmt.test", "-addext",
                    "subjectAltName=IP:127.0.0.1", "-keyout", str(key),
                    "-out", str(crt)], check=True, capture_output=True,
                   timeout=scaled(30))
    pem = tmp_path / "mgmt.pem"
    pem.write_text(crt.read_text() + key.read_text())
    port = free_port()
    t = make_tern(extra=f"http-mgmt-port {port}\n"
                        f"http-mgmt-tls-certificate {pem}\n"
                        "http-access 127.0.0.1 monitor\n")

    ctx = ssl.create_default_context(cafile=str(crt))
    c = http.client.HTTPSConnection(LOOPBACK, port, context=ctx,
                                    timeout=scaled(15))
    c.request("GET", "/api/v1/stats")
    r = c.getresponse()
    assert r.status == 200 and "status" in json.loads(r.read())
    assert c.sock.version() in ("TLSv1.2", "TLSv1.3")
    assert c.sock.getpeercert()["subject"] == ((("commonName",
                                                  "tern-mgmt.test"),),)
    c.close()

    # Plain HTTP on the TLS port gets no HTTP answer.
    c = http.client.HTTPConnection(LOOPBACK, port, timeout=scaled(15))
    with pytest.raises((http.client.HTTPException, ConnectionError,
                        OSError)):
        c.request("GET", "/api/v1/stats")
        c.getresponse()
    c.close()
