"""HTTP injection (POST /api/v1/inject, docs/http.md): a JSON request
queues mail for many recipients with per-recipient substitutions, with
the SMTP path's durability and back-pressure, behind the HTTP API's access
control, and only when the operator turned it on."""

import base64
import http.client
import json
import re
import warnings

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import crypt  # deprecated in 3.11, still the way to call crypt(3)
import pytest

from conftest import (LOOPBACK, free_port, make_message, scaled,
                      spool_records)

SENDER = "bounces@sender.test"
VMTA = """<virtual-mta vm1>
    smtp-source-host 127.0.0.1 vm1.tern.test
</virtual-mta>
"""


def post(port, body, user="admin:s3cret", source=LOOPBACK,
         path="/api/v1/inject"):
    """POST body (bytes, or JSON-encoded); (status, headers, body)."""
    c = http.client.HTTPConnection(LOOPBACK, port, timeout=scaled(120),
                                   source_address=(source, 0))
    h = {"Content-Type": "application/json"}
    if user:
        h["Authorization"] = "Basic " + base64.b64encode(
            user.encode()).decode()
    if not isinstance(body, bytes):
        body = json.dumps(body).encode()
    c.request("POST", path, body=body, headers=h)
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, {k.lower(): v for k, v in r.getheaders()}, data


def make_web(make_tern, sink, tmp_path, inject="yes", extra="", **kw):
    port = free_port()
    pw = tmp_path / "htpasswd"
    pw.write_text("admin:" + crypt.crypt(
        "s3cret", crypt.mksalt(crypt.METHOD_SHA512)) + "\n")
    t = make_tern(routes={"example.test": sink},
                  extra=f"http-mgmt-port {port}\n"
                        f"http-mgmt-interface {LOOPBACK}\n"
                        f"http-mgmt-auth {pw}\n"
                        "http-access 127.0.0.1 admin\n"
                        "http-access 127.0.0.2 monitor\n"
                        + (f"http-inject {inject}\n" if inject else "")
                        + VMTA + extra, **kw)
    t.http_port = port
    return t


def status_json(tern):
    r = tern.cli("--json", "show", "status")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def spool_files(tern):
    """What the spool holds: message records, and scratch files with
    data (a message being written)."""
    return sorted([r.qid for r in spool_records(tern.spool)] +
                  [p.name for p in (tern.spool / "scratch").glob("*")
                   if p.stat().st_size > 0])


def test_inject_1000_recipients_with_substitutions(make_tern, sink,
                                                   tmp_path):
    tern = make_web(make_tern, sink, tmp_path)
    n = 1000
    req = {
        "envelope_sender": SENDER,
        "content": {"from": "News <news@sender.test>",
                    "subject": "Hi {{name}}",
                    "text": "Hello {{ name }}, your code is {{code}}.\n"
                            "Sent by {{team}}.\n"},
        "substitutions": {"team": "the Tern team", "name": "nobody"},
        "recipients": [{"email": f"r{i}@example.test",
                        "substitutions": {"name": f"User {i}",
                                          "code": 1000 + i}}
                       for i in range(n)],
        "vmta": "vm1", "job_id": "job-42", "envelope_id": "env-7",
    }
    status, _, body = post(tern.http_port, req)
    assert status == 200, body
    ans = json.loads(body)
    assert ans["ok"] is True and ans["accepted"] == n
    assert ans["rejected"] == 0 and len(ans["messages"]) == n
    # Answered after the commit: every message is in the queue now.
    assert status_json(tern)["status"]["received"] >= n

    got = tern.wait_messages(sink, n, timeout=scaled(240))
    by_rcpt = {m.rcpt_tos[0]: m for m in got}
    assert len(by_rcpt) == n
    for i in range(n):
        m = by_rcpt[f"r{i}@example.test"]
        assert m.mail_from == SENDER
        text = m.data.decode()
        assert f"Hello User {i}, your code is {1000 + i}." in text, text
        assert "Sent by the Tern team." in text
        assert f"\r\nSubject: Hi User {i}\r\n" in text
        assert f"\r\nTo: r{i}@example.test\r\n" in text
        assert text.startswith("Received: from admin (127.0.0.1)")
        assert "\r\nMessage-ID: <" in text and "\r\nDate: " in text
    rows = tern.wait_for(lambda: len(r := tern.acct_rows("d")) >= n and r,
                         timeout=scaled(60), what="d rows")
    assert len(rows) == n
    for r in rows:
        assert (r["srcType"], r["jobId"], r["envId"], r["vmta"]) == (
            "http", "job-42", "env-7", "vm1"), r
        assert r["srcMta"] == "http (127.0.0.1)" and r["orig"] == SENDER

    # Without substitutions of their own: one spool file, many
    # recipients; content as the full RFC 5322 text, substituted too.
    sink.reset()
    status, _, body = post(tern.http_port, {
        "envelope_sender": SENDER,
        "content": "From: a@sender.test\nSubject: same\n\nFor {{team}}.\n",
        "substitutions": {"team": "everyone"},
        "recipients": [{"email": f"s{i}@example.test"} for i in range(5)]})
    assert status == 200, body
    ans = json.loads(body)
    assert ans["accepted"] == 5 and len(ans["messages"]) == 1
    assert ans["messages"][0]["recipients"] == 5
    got = tern.wait_messages(sink, 1)
    assert sorted(r for m in got for r in m.rcpt_tos) == sorted(
        f"s{i}@example.test" for i in range(5))
    assert b"For everyone.\r\n" in got[0].data
    rows = tern.wait_for(lambda: len(r := [x for x in tern.acct_rows("d")
                                           if x["rcpt"].startswith("s")])
                         >= 5 and r, what="d rows of the shared message")
    assert {r["srcType"] for r in rows} == {"http"}
    assert {r["jobId"] for r in rows} == {""}


def test_inject_needs_auth_access_and_opt_in(make_tern, sink, tmp_path):
    tern = make_web(make_tern, sink, tmp_path, inject=None)
    req = {"envelope_sender": SENDER, "content": "Subject: x\n\nx\n",
           "recipients": [{"email": "a@example.test"}]}
    # Off unless configured.
    status, _, body = post(tern.http_port, req)
    assert status == 403 and b"http-inject" in body
    tern.extra += "http-inject yes\n"
    tern.write_config()
    r = tern.cli("reload")
    assert r.returncode == 0, (r.stdout, r.stderr)
    # No or wrong credentials: 401; monitor access: 403; GET: 405.
    assert post(tern.http_port, req, user=None)[0] == 401
    assert post(tern.http_port, req, user="admin:wrong")[0] == 401
    assert post(tern.http_port, req, source="127.0.0.2")[0] == 403
    assert post(tern.http_port, req, source="127.0.0.3")[0] == 403
    c = http.client.HTTPConnection(LOOPBACK, tern.http_port,
                                   timeout=scaled(15))
    c.request("GET", "/api/v1/inject", headers={
        "Authorization": "Basic " + base64.b64encode(b"admin:s3cret")
        .decode()})
    assert c.getresponse().status == 405
    c.close()
    assert sink.messages == []
    status, _, body = post(tern.http_port, req)
    assert status == 200, body
    tern.wait_messages(sink, 1)


BAD = [
    (b"{not json", "request: not JSON"),
    (b"[1, 2]", "request: not a JSON object"),
    ({"content": "x", "recipients": [{"email": "a@example.test"}]},
     "envelope_sender: not an address"),
    ({"envelope_sender": "no-at-sign", "content": "x",
      "recipients": [{"email": "a@example.test"}]},
     "envelope_sender: not an address"),
    ({"envelope_sender": SENDER, "content": "x", "recipients": []},
     "recipients: not a non-empty array"),
    ({"envelope_sender": SENDER, "content": "x",
      "recipients": [{"email": "a@example.test"}, {"email": "b c@x"}]},
     "recipients[1].email: not an address"),
    ({"envelope_sender": SENDER, "content": "x",
      "recipients": [{"email": "a@example.test",
                      "substitutions": {"n": [1]}}]},
     "recipients[0].substitutions.n: not a string"),
    ({"envelope_sender": SENDER, "recipients": [{"email": "a@example.test"}]},
     "content: missing"),
    ({"envelope_sender": SENDER, "content": {"text": "hi"},
      "recipients": [{"email": "a@example.test"}]},
     "content.from: missing"),
    ({"envelope_sender": SENDER, "content": "x", "vmta": "nosuch",
      "recipients": [{"email": "a@example.test"}]},
     "vmta: no <virtual-mta> or <virtual-mta-pool> named nosuch"),
    ({"envelope_sender": SENDER, "content": "x", "jobid": "typo",
      "recipients": [{"email": "a@example.test"}]},
     "jobid: unknown field"),
    ({"envelope_sender": SENDER, "content": "Subject: x\n\n" + "y" * 1200,
      "recipients": [{"email": "a@example.test"}]},
     "content: line 3 is longer than 998 octets"),
]


def test_inject_bad_requests_are_400_naming_the_field(make_tern, sink,
                                                      tmp_path):
    tern = make_web(make_tern, sink, tmp_path)
    for body, error in BAD:
        status, _, data = post(tern.http_port, body)
        assert status == 400, (body, status, data)
        ans = json.loads(data)
        assert ans["ok"] is False and ans["error"].startswith(error), (
            body, ans)
    # Bounded: a body over the limit is refused before it is parsed.
    big = b'{"content":"' + b"x" * (16 * 1024 * 1024 + 1) + b'"}'
    try:
        status = post(tern.http_port, big)[0]
    except (ConnectionError, http.client.HTTPException):
        status = 413        # h2o may close while we still send
    assert status == 413
    assert status_json(tern)["status"]["received"] == 0
    assert spool_files(tern) == []
    assert sink.messages == []


def test_inject_when_the_spool_is_full(make_tern, sink, tmp_path):
    """spool-max-recipients reached: 503 with Retry-After, nothing of the
    request queued, nothing already queued lost; room again: accepted."""
    dead = free_port()       # nobody listens: held.test mail stays queued
    tern = make_web(make_tern, sink, tmp_path,
                    extra="spool-max-recipients 3\n"
                          f"<domain held.test>\n    route {LOOPBACK}:{dead}\n"
                          "</domain>\n")
    tern.send("a@client.test", [f"h{i}@held.test" for i in range(3)],
              make_message())
    tern.wait_for(lambda: status_json(tern)["status"]["spoolFull"],
                  what="spool full")
    before = spool_files(tern)
    req = {"envelope_sender": SENDER, "content": "Subject: x\n\nx\n",
           "recipients": [{"email": f"x{i}@example.test",
                           "substitutions": {"i": i}} for i in range(20)]}
    status, headers, body = post(tern.http_port, req)
    assert status == 503, body
    assert int(headers["retry-after"]) > 0
    ans = json.loads(body)
    assert ans["ok"] is False and ans["accepted"] == 0
    assert "insufficient system storage" in ans["error"]
    assert spool_files(tern) == before, "nothing half-queued"
    assert status_json(tern)["status"]["queue"]["recipients"] == 3

    r = tern.cli("delete", "--queue=held.test/{default}")
    assert r.returncode == 0, r.stderr
    tern.wait_for(lambda: not status_json(tern)["status"]["spoolFull"],
                  what="room again")
    status, _, body = post(tern.http_port, req)
    assert status == 200, body
    got = tern.wait_messages(sink, 20)
    assert sorted(m.rcpt_tos[0] for m in got) == sorted(
        f"x{i}@example.test" for i in range(20))
    assert not re.search(r"h\d@held.test", str([m.rcpt_tos for m in got]))
