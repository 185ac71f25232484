"""Inbound policy (issue 5): back-pressure at connect, reverse DNS
(iprev) of clients, X-Remote-MTA-IP, TLS protocol versions and
per-listener certificates.

Real parts only: smtplib and raw sockets from 127.0.0.x source addresses,
the dnslib DnsServer of conftest serving PTR and A records, `openssl
s_client` for TLS.
"""

import smtplib
import subprocess

import pytest

from conftest import LOOPBACK, make_message, scaled
from test_smtpd import SENDER, Raw, make_cert, start_tern


def _fill_spool(t, sink, n=3):
    """Make the spool full: sink defers everything, n recipients wait."""
    sink.add_rule("RCPT", "451 4.3.0 come back later", count=None)
    for i in range(n):
        t.send(SENDER, [f"full{i}@example.test"], make_message())


# ------------------------------------------------------- back-pressure

def test_full_spool_refuses_new_connections_when_configured(make_tern, sink):
    """refuse-connect-when-spool-full: while the spool is over its limit
    a new connection is greeted with 421 4.3.2 and closed; once the queue
    drains, 220 again, and nothing accepted was lost."""
    t = make_tern(routes={"example.test": sink},
                  extra="spool-max-recipients 3\n"
                        "refuse-connect-when-spool-full yes\n")
    _fill_spool(t, sink)
    c = Raw(t.smtp_port)
    try:
        code, text = c.banner
        assert code == 421 and " 4.3.2 " in text, text
        with pytest.raises((EOFError, ConnectionError)):
            c.reply()
    finally:
        c.close()

    sink.clear_rules()
    for i in range(3):
        t.wait_messages(sink, 1, rcpt=f"full{i}@example.test", timeout=30)

    def greets():
        c = Raw(t.smtp_port)
        c.close()
        return c.banner[0] == 220
    t.wait_for(greets, timeout=30, interval=0.5,
               what="220 again once the queue drained")
    t.send(SENDER, ["after@example.test"], make_message())
    t.wait_messages(sink, 1, rcpt="after@example.test")


def test_full_spool_without_the_directive_greets_and_refuses_mail(
        make_tern, sink):
    """Without refuse-connect-when-spool-full (PowerMTA's behaviour) the
    client is greeted and gets 452 4.3.1 at MAIL instead; the per-source
    setting overrides the global one."""
    t = start_tern(make_tern, sink,
                   source="    always-allow-relaying yes\n"
                          "    refuse-connect-when-spool-full no\n",
                   extra="spool-max-recipients 3\n"
                         "refuse-connect-when-spool-full yes\n")
    _fill_spool(t, sink)
    c = Raw(t.smtp_port)
    try:
        assert c.banner[0] == 220, c.banner
        assert c.cmd("EHLO client.test")[0] == 250
        code, text = c.cmd(f"MAIL FROM:<{SENDER}>")
        assert code == 452 and "4.3.1" in text, text
    finally:
        c.close()


# ------------------------------------------------- reverse DNS (iprev)

def _ptr(ip):
    return ".".join(reversed(ip.split("."))) + ".in-addr.arpa"


IPREV_ZONE = {
    # forward-confirmed: the PTR name leads back to the address
    _ptr("127.0.0.2"): {"PTR": ["good.client.test"]},
    "good.client.test": {"A": ["127.0.0.2"]},
    # a PTR whose name points elsewhere: fail
    _ptr("127.0.0.3"): {"PTR": ["liar.client.test"]},
    "liar.client.test": {"A": ["127.0.0.99"]},
    # 127.0.0.4: no PTR at all (NXDOMAIN): permerror
    # the name server fails: temperror
    _ptr("127.0.0.5"): "SERVFAIL",
}


def _iprev_tern(make_tern, sink, dns, source_lines):
    return start_tern(
        make_tern, sink,
        extra=f"name-server {dns.addr}\n"
              "dns-timeout 6s\n"
              "<source 127.0.0.0/24>\n"
              "    always-allow-relaying yes\n"
              f"{source_lines}"
              "</source>\n")


def _mail_from(t, ip):
    """Connect from ip, EHLO, MAIL: (code, text) of the MAIL reply."""
    c = Raw(t.smtp_port, source=ip)
    try:
        assert c.banner[0] == 220, c.banner
        assert c.cmd("EHLO client.test")[0] == 250
        return c.cmd(f"MAIL FROM:<{SENDER}>")
    finally:
        c.close()


def _send_from(t, ip, rcpt):
    with smtplib.SMTP(LOOPBACK, t.smtp_port, timeout=scaled(30),
                      source_address=(ip, 0)) as s:
        s.sendmail(SENDER, [rcpt], make_message())


def test_require_rdns_accepts_only_forward_confirmed_clients(
        make_tern, sink, dns_zone):
    """require-rdns yes: a client whose PTR name resolves back to it is
    accepted (and named in Received:); a PTR pointing elsewhere and no PTR
    at all get 550 5.7.25 at MAIL, a failing name server 450 4.7.25."""
    dns = dns_zone(IPREV_ZONE)
    t = _iprev_tern(make_tern, sink, dns, "    require-rdns yes\n")

    _send_from(t, "127.0.0.2", "rdns-ok@example.test")
    got = t.wait_messages(sink, 1, rcpt="rdns-ok@example.test")[0]
    assert b"(good.client.test [127.0.0.2])" in got.data, got.data[:400]

    code, text = _mail_from(t, "127.0.0.3")
    assert code == 550 and "5.7.25" in text, text
    code, text = _mail_from(t, "127.0.0.4")
    assert code == 550 and "5.7.25" in text, text
    code, text = _mail_from(t, "127.0.0.5")
    assert code == 450 and "4.7.25" in text, text
    assert dns.count(_ptr("127.0.0.3"), "PTR") >= 1
    assert dns.count("liar.client.test", "A") >= 1

    # The global 127.0.0.1 source has no check: still accepted.
    t.send(SENDER, ["plain@example.test"], make_message())
    t.wait_messages(sink, 1, rcpt="plain@example.test")


def test_check_iprev_inbound_rejects_what_it_is_told_and_adds_a_header(
        make_tern, sink, dns_zone):
    """check-iprev-inbound with only reject-iprev-check-fail: fail is
    refused (550 5.7.25); permerror and temperror are accepted and the
    result is recorded in an Authentication-Results: header."""
    dns = dns_zone(IPREV_ZONE)
    t = _iprev_tern(make_tern, sink, dns,
                    "    check-iprev-inbound yes\n"
                    "    reject-iprev-check-fail yes\n")
    code, text = _mail_from(t, "127.0.0.3")
    assert code == 550 and "5.7.25" in text, text

    for ip, rcpt, result in (("127.0.0.2", "ar-pass@example.test",
                              b"iprev=pass policy.iprev=127.0.0.2 "
                              b"(good.client.test)"),
                             ("127.0.0.4", "ar-perm@example.test",
                              b"iprev=permerror policy.iprev=127.0.0.4"),
                             ("127.0.0.5", "ar-temp@example.test",
                              b"iprev=temperror policy.iprev=127.0.0.5")):
        _send_from(t, ip, rcpt)
        got = t.wait_messages(sink, 1, rcpt=rcpt)[0]
        head = got.data.split(b"\r\n\r\n", 1)[0].replace(b"\r\n\t", b" ")
        assert b"Authentication-Results: tern.test; " + result in head, head


# ------------------------------------------- TLS versions, certificates

def _s_client(port, *args):
    """openssl s_client -starttls smtp: (handshake ok, its output)."""
    out = subprocess.run(
        ["openssl", "s_client", "-starttls", "smtp", "-connect",
         f"{LOOPBACK}:{port}", "-brief", *args],
        input=b"QUIT\r\n", capture_output=True, timeout=scaled(30))
    text = (out.stdout + out.stderr).decode(errors="replace")
    return "Protocol version:" in text, text


def _tls_tern(make_tern, sink, tmp_path, extra):
    pem, _ = make_cert(tmp_path)
    return make_tern(routes={"example.test": sink},
                     extra=f"smtp-server-tls-certificate {pem}\n" + extra)


def test_tls_versions_follow_smtp_server_tls_allow(make_tern, sink,
                                                   tmp_path):
    """smtp-server-tls-allow-tlsv1.3 no: TLS 1.2 only; and TLS 1.1 is
    refused even when smtp-server-tls-allow-tlsv1.1 says yes."""
    t = _tls_tern(make_tern, sink, tmp_path,
                  "smtp-server-tls-allow-tlsv1.3 no\n"
                  "smtp-server-tls-allow-tlsv1.1 yes\n")
    ok, text = _s_client(t.smtp_port, "-tls1_3")
    assert not ok, text
    ok, text = _s_client(t.smtp_port, "-tls1_2")
    assert ok and "Protocol version: TLSv1.2" in text, text
    ok, text = _s_client(t.smtp_port)
    assert ok and "Protocol version: TLSv1.2" in text, text
    ok, text = _s_client(t.smtp_port, "-tls1_1", "-cipher",
                         "ALL:@SECLEVEL=0")
    assert not ok, text
    # Mail still goes through over TLS 1.2.
    t.send(SENDER, ["tls12@example.test"], make_message())


def test_tls12_off_leaves_tls13_only(make_tern, sink, tmp_path):
    t = _tls_tern(make_tern, sink, tmp_path,
                  "smtp-server-tls-allow-tlsv1.2 no\n")
    ok, text = _s_client(t.smtp_port, "-tls1_2")
    assert not ok, text
    ok, text = _s_client(t.smtp_port, "-tls1_3")
    assert ok and "Protocol version: TLSv1.3" in text, text


def test_tls_ciphers_are_enforced(make_tern, sink, tmp_path):
    """smtp-server-tls-ciphers limits the TLS 1.2 ciphers: a client
    offering only others cannot connect."""
    t = _tls_tern(make_tern, sink, tmp_path,
                  "smtp-server-tls-ciphers ECDHE-RSA-AES128-GCM-SHA256\n")
    ok, text = _s_client(t.smtp_port, "-tls1_2")
    assert ok and "ECDHE-RSA-AES128-GCM-SHA256" in text, text
    ok, text = _s_client(t.smtp_port, "-tls1_2", "-cipher",
                         "ECDHE-RSA-AES256-GCM-SHA384")
    assert not ok, text


def test_per_listener_certificate_and_versions(make_tern, sink, tmp_path):
    """An <smtp-listener> block with its own tls-certificate shows that
    certificate; its tls-allow-tlsv1.3 no holds there only.  The other
    listener keeps the global certificate and TLS 1.3."""
    from conftest import free_port
    (tmp_path / "g").mkdir()
    (tmp_path / "l").mkdir()
    gpem, _ = make_cert(tmp_path / "g")
    lpem, _ = make_cert(tmp_path / "l", cn="listener-two.test")
    port2 = free_port()
    t = make_tern(routes={"example.test": sink},
                  extra=f"smtp-server-tls-certificate {gpem}\n"
                        f"<smtp-listener {LOOPBACK}:{port2}>\n"
                        f"    tls-certificate {lpem}\n"
                        "    tls-allow-tlsv1.3 no\n"
                        "</smtp-listener>\n")
    ok, text = _s_client(t.smtp_port)
    assert ok and "tern-inbound.test" in text, text
    assert "listener-two.test" not in text, text
    assert "Protocol version: TLSv1.3" in text, text
    ok, text = _s_client(port2)
    assert ok and "listener-two.test" in text, text
    assert "Protocol version: TLSv1.2" in text, text
    ok, text = _s_client(port2, "-tls1_3")
    assert not ok, text
    # Mail is accepted on both listeners.
    with smtplib.SMTP(LOOPBACK, port2, timeout=scaled(30)) as s:
        s.starttls()
        s.sendmail(SENDER, ["two@example.test"], make_message())
    t.wait_messages(sink, 1, rcpt="two@example.test")


# ---------------------------------------------------- X-Remote-MTA-IP

def test_x_remote_mta_ip_is_recorded_and_removed_when_allowed(
        make_tern, sink):
    """process-x-remote-mta-ip yes: X-Remote-MTA-IP (from a gateway in
    front of Tern) becomes the client address of the message (srcMta in
    the accounting file) and is removed; a value that is no address is
    removed and ignored.  Clients without the setting keep the header and
    their own address."""
    t = start_tern(make_tern, sink,
                   extra="<source 127.0.0.2>\n"
                         "    always-allow-relaying yes\n"
                         "    process-x-remote-mta-ip yes\n"
                         "</source>\n")

    def send(ip, rcpt, value):
        msg = make_message(headers=(f"X-Remote-MTA-IP: {value}",))
        with smtplib.SMTP(LOOPBACK, t.smtp_port, timeout=scaled(30),
                          source_address=(ip, 0)) as s:
            s.ehlo("gw.client.test")
            s.sendmail(SENDER, [rcpt], msg)
        got = t.wait_messages(sink, 1, rcpt=rcpt)[0]
        row = t.wait_acct("d", rcpt)[0]
        return got.data.split(b"\r\n\r\n", 1)[0], row["srcMta"]

    head, src = send("127.0.0.2", "xr-v4@example.test", "192.0.2.7")
    assert b"X-Remote-MTA-IP" not in head, head
    assert src == "gw.client.test (192.0.2.7)", src

    head, src = send("127.0.0.2", "xr-v6@example.test", "[IPv6:2001:db8::5]")
    assert b"X-Remote-MTA-IP" not in head, head
    assert src == "gw.client.test (2001:db8::5)", src

    head, src = send("127.0.0.2", "xr-bad@example.test", "not-an-ip")
    assert b"X-Remote-MTA-IP" not in head, head
    assert src == "gw.client.test (127.0.0.2)", src

    head, src = send(LOOPBACK, "xr-off@example.test", "192.0.2.7")
    assert b"X-Remote-MTA-IP: 192.0.2.7" in head, head
    assert src == f"gw.client.test ({LOOPBACK})", src


# ------------------------------------- mail any client may send us

def test_bounces_reports_and_relay_domains_from_any_client(
        make_tern, sink, catchall):
    """A client with no relaying rights (127.0.0.2: no <source> allows it)
    may still send to the bounce domain and the feedback-loop addresses
    (the message goes to bounced: an rb row, nothing delivered) and to a
    relay-domain; anything else gets 550 5.7.1."""
    from test_bounced import VERP_EXTRA, _report
    t = make_tern(routes={"example.test": sink, "inbound.test": sink},
                  records="d,b,rb,f",
                  extra=VERP_EXTRA + "relay-domain [*.]inbound.test\n")
    verp = "news-joe=example.test@bounce.test"
    dsn = _report(verp, "delivery-status", [
        ("text/plain", "Sorry."),
        ("message/delivery-status",
         "Reporting-MTA: dns; mx.example.test\r\n\r\n"
         "Final-Recipient: rfc822; joe@example.test\r\n"
         "Action: failed\r\nStatus: 5.1.1\r\n"
         "Diagnostic-Code: smtp; 550 5.1.1 user unknown"),
    ])
    with smtplib.SMTP(LOOPBACK, t.smtp_port, timeout=scaled(30),
                      source_address=("127.0.0.2", 0)) as s:
        s.ehlo("mx.example.test")
        s.mail("")
        code, text = s.rcpt("joe@example.test")
        assert code == 550 and text.startswith(b"5.7.1"), text
        assert s.rcpt(verp)[0] == 250
        assert s.data(dsn.encode())[0] == 250
        s.sendmail("a@remote.test", ["user@inbound.test"],
                   make_message(to="user@inbound.test"))
    [rb] = t.wait_acct("rb", "joe@example.test")
    assert rb["orig"] == verp, rb
    t.wait_messages(sink, 1, rcpt="user@inbound.test")
    assert [m for m in catchall.messages if verp in m.rcpt_tos] == []
