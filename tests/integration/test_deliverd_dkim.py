"""deliverd: DKIM signatures, verified by dkimpy.

Keys are made with the openssl command; the public halves are published
in a DnsServer zone and dkimpy's verify() looks them up there (dnsfunc
asks the server with dnslib), as a receiver would.  ternd reads the key
files; deliverd only gets their contents.
"""

import base64
import subprocess

import dkim
import pytest
from dnslib import DNSRecord

from conftest import make_message

SENDER = "sender@client.test"


def _openssl(*args, data=None):
    return subprocess.run(["openssl", *args], input=data, check=True,
                          capture_output=True, timeout=60).stdout


def make_key(path, kind):
    """A private key file and the p= value of its DNS record."""
    if kind == "rsa":
        _openssl("genpkey", "-algorithm", "RSA", "-pkeyopt",
                 "rsa_keygen_bits:2048", "-out", str(path))
    else:
        _openssl("genpkey", "-algorithm", "ED25519", "-out", str(path))
    der = _openssl("pkey", "-in", str(path), "-pubout", "-outform", "DER")
    if kind == "ed25519":
        der = der[-32:]                 # RFC 8463: the raw public key
    return base64.b64encode(der).decode()


def verify(data: bytes, dns) -> bool:
    def dnsfunc(name, timeout=5):
        if isinstance(name, bytes):
            name = name.decode()
        reply = DNSRecord.parse(DNSRecord.question(name, "TXT").send(
            dns.host, dns.port, timeout=timeout))
        return b"".join(b"".join(rr.rdata.data) for rr in reply.rr) or None
    return dkim.verify(data, dnsfunc=dnsfunc)


@pytest.fixture
def dkim_keys(tmp_path, dns_zone):
    rsa_p = make_key(tmp_path / "rsa.pem", "rsa")
    ed_p = make_key(tmp_path / "ed.pem", "ed25519")
    dns = dns_zone({
        "rsa1._domainkey.client.test": {
            "TXT": [f"v=DKIM1; k=rsa; p={rsa_p}"]},
        "ed1._domainkey.brand.test": {
            "TXT": [f"v=DKIM1; k=ed25519; p={ed_p}"]},
    })
    return tmp_path, dns


BODY = ("Hello,\n  this line has   runs of  spaces   \n\n"
        ".a dot line\ttab\n\n\n")


def test_rsa_signature_verifies(make_tern, sink, dkim_keys):
    keydir, dns = dkim_keys
    t = make_tern(routes={"example.test": sink},
                  domain_settings={"example.test": "dkim-sign yes"},
                  extra=f"domain-key rsa1,client.test,{keydir}/rsa.pem\n")
    t.send(SENDER, ["a@example.test"],
           make_message(body=BODY, headers=("MIME-Version: 1.0",)))
    data = t.wait_messages(sink, 1)[0].data
    assert data.startswith(b"DKIM-Signature:") or \
        b"\r\nDKIM-Signature:" in data
    assert b"a=rsa-sha256" in data and b"d=client.test" in data
    assert verify(data, dns)


def test_ed25519_signature_by_from_domain(make_tern, sink, dkim_keys):
    """The key is chosen by the From: domain (a subdomain matches its
    parent's key): Ed25519-SHA256 (RFC 8463)."""
    keydir, dns = dkim_keys
    t = make_tern(routes={"example.test": sink},
                  domain_settings={"example.test": "dkim-sign yes"},
                  extra=f"domain-key rsa1,client.test,{keydir}/rsa.pem\n"
                        f"domain-key ed1,brand.test,{keydir}/ed.pem\n")
    t.send(SENDER, ["a@example.test"],
           make_message(body=BODY, mail_from="news@mail.brand.test"))
    data = t.wait_messages(sink, 1)[0].data
    assert b"a=ed25519-sha256" in data and b"d=brand.test" in data
    assert verify(data, dns)


def test_no_signature_without_dkim_sign(make_tern, sink, dkim_keys):
    keydir, dns = dkim_keys
    t = make_tern(routes={"example.test": sink},
                  extra=f"domain-key rsa1,client.test,{keydir}/rsa.pem\n")
    t.send(SENDER, ["a@example.test"], make_message())
    data = t.wait_messages(sink, 1)[0].data
    assert b"DKIM-Signature" not in data


def test_no_key_for_from_domain_sends_unsigned(make_tern, sink, dkim_keys):
    keydir, dns = dkim_keys
    t = make_tern(routes={"example.test": sink},
                  domain_settings={"example.test": "dkim-sign yes"},
                  extra=f"domain-key rsa1,client.test,{keydir}/rsa.pem\n")
    t.send(SENDER, ["a@example.test"],
           make_message(mail_from="x@unrelated.test"))
    data = t.wait_messages(sink, 1)[0].data
    assert b"DKIM-Signature" not in data
    t.wait_acct("d", "a@example.test")


def test_tampered_body_fails_verification(make_tern, sink, dkim_keys):
    """The check is real: change one byte and dkimpy says no."""
    keydir, dns = dkim_keys
    t = make_tern(routes={"example.test": sink},
                  domain_settings={"example.test": "dkim-sign yes"},
                  extra=f"domain-key rsa1,client.test,{keydir}/rsa.pem\n")
    t.send(SENDER, ["a@example.test"], make_message(body=BODY))
    data = t.wait_messages(sink, 1)[0].data
    assert verify(data, dns)
    assert not verify(data.replace(b"a dot line", b"a dot lime"), dns)


def _h_tag(data: bytes) -> list:
    sig = data.split(b"DKIM-Signature:", 1)[1].split(b"\r\n\r\n")[0]
    sig = b"".join(sig.split())
    h = sig.split(b"h=", 1)[1].split(b";", 1)[0]
    return h.decode().split(":")


def test_dkim_headers_adds_signed_headers(make_tern, sink, dkim_keys):
    """dkim-headers X-Campaign, Received: X-Campaign is signed (in h=,
    and the signature still verifies); Received never is."""
    keydir, dns = dkim_keys
    t = make_tern(routes={"example.test": sink},
                  domain_settings={"example.test":
                                   "dkim-sign yes\n"
                                   "dkim-headers X-Campaign, Received"},
                  extra=f"domain-key rsa1,client.test,{keydir}/rsa.pem\n")
    t.send(SENDER, ["a@example.test"], make_message(
        body=BODY, headers=("X-Campaign: spring-42",
                            "Received: from a by b; Mon, 1 Jan 2024")))
    data = t.wait_messages(sink, 1)[0].data
    h = _h_tag(data)
    assert "x-campaign" in h and "from" in h
    assert "received" not in h
    assert verify(data, dns)
    # the same without dkim-headers: not signed (the test can fail)
    t2 = make_tern(name="plain", routes={"example.test": sink},
                   domain_settings={"example.test": "dkim-sign yes"},
                   extra=f"domain-key rsa1,client.test,{keydir}/rsa.pem\n")
    t2.send(SENDER, ["b@example.test"], make_message(
        headers=("X-Campaign: spring-42",)))
    data2 = t2.wait_messages(sink, 1, rcpt="b@example.test")[0].data
    assert "x-campaign" not in _h_tag(data2)
