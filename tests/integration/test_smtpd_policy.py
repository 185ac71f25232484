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
