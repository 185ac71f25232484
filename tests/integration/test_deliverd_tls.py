"""deliverd: STARTTLS to receivers, and the TLS policy.

The receivers are aiosmtpd sinks with a self-signed certificate made by
the openssl command for the test (Tern does not verify certificates: the
policy is opportunistic, as PowerMTA's), or without STARTTLS at all.
"""

import ssl
import subprocess

import pytest

from conftest import HostSink, make_message

SENDER = "sender@client.test"


@pytest.fixture
def tls_context(tmp_path):
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048",
                    "-nodes", "-subj", "/CN=tls-sink.test", "-days", "1",
                    "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(str(cert), str(key))
    return ctx


@pytest.fixture
def tls_sink(tls_context):
    with HostSink(name="tls-sink", tls_context=tls_context) as s:
        yield s


def test_starttls_used_when_offered(make_tern, tls_sink):
    """By default (use-starttls yes) the mail goes over TLS; protocol and
    cipher are in the accounting record."""
    t = make_tern(routes={"example.test": tls_sink})
    t.send(SENDER, ["a@example.test"], make_message())
    t.wait_messages(tls_sink, 1)
    row = t.wait_acct("d", "a@example.test")[0]
    assert row["dlvTlsProtocol"].startswith("TLSv1."), row
    assert row["dlvTlsCipher"], row
    # the EHLO after STARTTLS is what the accounting shows
    assert "STARTTLS" not in row["dlvEsmtpAvailable"]


def test_receiver_requiring_starttls_gets_it(make_tern, tls_context):
    """A receiver that refuses mail before STARTTLS still gets it."""
    with HostSink(name="strict", tls_context=tls_context,
                  require_starttls=True) as strict:
        t = make_tern(routes={"example.test": strict},
                      domain_settings={"example.test":
                                       "require-starttls yes"})
        t.send(SENDER, ["a@example.test"], make_message())
        t.wait_messages(strict, 1)
        assert t.wait_acct("d", "a@example.test")[0]["dlvTlsProtocol"]


def test_use_starttls_no_sends_in_clear(make_tern, tls_sink):
    t = make_tern(routes={"example.test": tls_sink},
                  domain_settings={"example.test": "use-starttls no"})
    t.send(SENDER, ["a@example.test"], make_message())
    t.wait_messages(tls_sink, 1)
    row = t.wait_acct("d", "a@example.test")[0]
    assert row["dlvTlsProtocol"] == ""
    assert "STARTTLS" in row["dlvEsmtpAvailable"]


def test_tls_required_never_in_clear(make_tern, sink):
    """tls required (seeds) against a receiver without STARTTLS: the
    message is never sent; soft failures, then the bounce at expiry."""
    t = make_tern(routes={"example.test": sink},
                  domain_settings={"example.test":
                                   "tls required\nbounce-after 5s"})
    t.send(SENDER, ["a@example.test"], make_message())
    row = t.wait_acct("t", "a@example.test")[0]
    assert row["dsnStatus"].startswith("4.7.10")
    assert "STARTTLS" in row["dsnDiag"]
    t.wait_acct("b", "a@example.test", timeout=30)
    assert sink.messages == []
    assert sink.attempts("MAIL") == []


# --- certificate verification: smtp-tls-ca-file ---

def _ca_and_server(d, san):
    """A CA, and a server certificate it signed for `san`; returns
    (ca.pem, ssl context of the server)."""
    def run(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True,
                       timeout=60)
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        "-subj", "/CN=Test CA", "-keyout", str(d / "ca.key"),
        "-out", str(d / "ca.pem"),
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=mx.test",
        "-keyout", str(d / "srv.key"), "-out", str(d / "srv.csr"))
    (d / "ext.cnf").write_text(f"subjectAltName={san}\n")
    run("x509", "-req", "-in", str(d / "srv.csr"), "-CA", str(d / "ca.pem"),
        "-CAkey", str(d / "ca.key"), "-CAcreateserial", "-days", "1",
        "-extfile", str(d / "ext.cnf"), "-out", str(d / "srv.pem"))
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(str(d / "srv.pem"), str(d / "srv.key"))
    return d / "ca.pem", ctx


def test_smtp_tls_ca_file_verifies_chain_and_name(make_tern, tmp_path,
                                                  tls_context):
    """smtp-tls-ca-file: a receiver whose certificate that CA signed for
    the address Tern connects to gets the mail over TLS, also with tls
    required; one with a self-signed certificate fails verification: with
    tls required a t row and nothing sent, opportunistic in clear."""
    ca, good_ctx = _ca_and_server(tmp_path, "IP:127.0.0.1,DNS:mx.test")
    with HostSink(name="good", tls_context=good_ctx) as good, \
            HostSink(name="bad", tls_context=tls_context) as bad:
        t = make_tern(routes={"good.test": good, "bad.test": bad,
                              "badopp.test": bad},
                      domain_settings={
                          "good.test": f"smtp-tls-ca-file {ca}\n"
                                       "tls required",
                          "bad.test": f"smtp-tls-ca-file {ca}\n"
                                      "tls required\nretry-after 1h",
                          "badopp.test": f"smtp-tls-ca-file {ca}"})
        t.send(SENDER, ["a@good.test"], make_message())
        row = t.wait_acct("d", "a@good.test")[0]
        assert row["dlvTlsProtocol"].startswith("TLSv1."), row
        t.send(SENDER, ["a@bad.test"], make_message())
        row = t.wait_acct("t", "a@bad.test")[0]
        assert row["dsnStatus"].startswith("4.7."), row
        assert "certificate" in row["dsnDiag"].lower(), row
        assert bad.messages_for("a@bad.test") == []
        t.send(SENDER, ["a@badopp.test"], make_message())
        row = t.wait_acct("d", "a@badopp.test")[0]
        assert row["dlvTlsProtocol"] == ""


def test_smtp_tls_ca_file_checks_the_name(make_tern, tmp_path):
    """A certificate the CA signed, but for another name than the host
    connected to: verification fails (tls required: t row)."""
    ca, ctx = _ca_and_server(tmp_path, "DNS:other.test")
    with HostSink(name="misnamed", tls_context=ctx) as s:
        t = make_tern(routes={"example.test": s},
                      domain_settings={"example.test":
                                       f"smtp-tls-ca-file {ca}\n"
                                       "tls required\nretry-after 1h"})
        t.send(SENDER, ["a@example.test"], make_message())
        row = t.wait_acct("t", "a@example.test")[0]
        assert row["dsnStatus"].startswith("4.7.")
        assert s.messages == []
