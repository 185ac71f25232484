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
