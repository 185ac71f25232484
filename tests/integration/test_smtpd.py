"""Inbound ESMTP (issue 5): STARTTLS, AUTH, CHUNKING, relay policy.

Real clients only: smtplib, raw sockets, `openssl s_client`.  Every Tern
here listens on 127.0.0.1 and routes example.test to the `sink` fixture.
Certificates are made with the openssl CLI in tmp_path; password hashes
with crypt(3) through Python's crypt module and `openssl passwd`.
"""

import base64
import re
import smtplib
import socket
import ssl
import subprocess
import time
import warnings

import pytest

from conftest import LOOPBACK, cli_json, make_message, scaled

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import crypt

SENDER = "sender@client.test"
CN = "tern-inbound.test"


# ------------------------------------------------------------- helpers

def make_cert(dir, cn=CN, password=None):
    """A self-signed certificate and its key in one PEM file (as PowerMTA's
    smtp-server-tls-certificate wants); returns (pem path, cert path)."""
    key, crt, pem = dir / "key.pem", dir / "cert.pem", dir / "server.pem"
    args = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-days", "2",
            "-subj", f"/CN={cn}/O=Tern tests",
            "-addext", "subjectAltName=IP:127.0.0.1",
            "-keyout", str(key), "-out", str(crt)]
    args += ["-passout", f"pass:{password}"] if password else ["-nodes"]
    subprocess.run(args, check=True, capture_output=True, timeout=60)
    pem.write_bytes(crt.read_bytes() + key.read_bytes())
    return pem, crt


DEFAULT_SOURCE = (f"<source {LOOPBACK}>\n"
                  "    always-allow-relaying yes\n"
                  "</source>\n")


def start_tern(make_tern, sink, source="    always-allow-relaying yes\n",
               extra=""):
    """A Tern whose <source 127.0.0.1> block holds `source` (instead of
    the fixture's plain relaying one), plus `extra` at global level."""
    t = make_tern(routes={"example.test": sink}, start=False)
    text = t.config_text()
    assert DEFAULT_SOURCE in text
    t._config_text = text.replace(
        DEFAULT_SOURCE, f"<source {LOOPBACK}>\n{source}</source>\n") + extra
    t.write_config()
    t.start()
    return t


def tls_conf(pem, password=None):
    pw = f" {password}" if password else ""
    return f"smtp-server-tls-certificate {pem}{pw}\n"


def client_ctx(crt):
    ctx = ssl.create_default_context(cafile=str(crt))
    ctx.check_hostname = False      # the certificate names 127.0.0.1 as IP
    return ctx


class Raw:
    """A line-level SMTP client on a plain socket, for what smtplib hides
    (pipelining, BDAT octets, refused commands)."""

    def __init__(self, port, source=None):
        self.sock = socket.create_connection(
            (LOOPBACK, port), timeout=scaled(20),
            source_address=(source, 0) if source else None)
        self.buf = b""
        self.banner = self.reply()

    def send(self, data: bytes):
        self.sock.sendall(data)

    def reply(self):
        """One whole (multi-line) reply: (code, text of all lines)."""
        lines = []
        while True:
            while b"\r\n" not in self.buf:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise EOFError(f"closed after {lines!r}")
                self.buf += chunk
            line, self.buf = self.buf.split(b"\r\n", 1)
            lines.append(line.decode())
            if line[3:4] != b"-":
                return int(line[:3]), "\n".join(lines)

    def cmd(self, line: str):
        self.send(line.encode() + b"\r\n")
        return self.reply()

    def starttls(self, ctx):
        code, _ = self.cmd("STARTTLS")
        assert code == 220
        assert self.buf == b"", "bytes after the 220 before TLS"
        self.sock = ctx.wrap_socket(self.sock)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def htpasswd(path, users: dict):
    """users: name -> (password, scheme); scheme 2y, 6 or 5."""
    lines = []
    for name, (pw, scheme) in users.items():
        if scheme == "2y":
            h = crypt.crypt(pw, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16))
            h = "$2y$" + h[4:]
        else:
            h = subprocess.run(["openssl", "passwd", f"-{scheme}", pw],
                               check=True, capture_output=True, text=True,
                               timeout=30).stdout.strip()
        assert h.startswith(f"${scheme}$"), h
        lines.append(f"{name}:{h}")
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)
    return path


def plain(user, pw):
    return base64.b64encode(f"\0{user}\0{pw}".encode()).decode()


def b64(s):
    return base64.b64encode(s.encode()).decode()


# ------------------------------------------------------------ STARTTLS

def test_starttls_openssl_s_client_sees_configured_certificate(
        make_tern, sink, tmp_path):
    pem, _ = make_cert(tmp_path)
    t = make_tern(routes={"example.test": sink}, extra=tls_conf(pem))
    out = subprocess.run(
        ["openssl", "s_client", "-starttls", "smtp", "-connect",
         f"{LOOPBACK}:{t.smtp_port}", "-brief"],
        input=b"QUIT\r\n", capture_output=True, timeout=scaled(30))
    text = (out.stdout + out.stderr).decode(errors="replace")
    assert f"CN = {CN}" in text or f"CN={CN}" in text, text
    assert "Protocol version: TLSv1.2" in text or \
        "Protocol version: TLSv1.3" in text, text


def test_starttls_smtplib_delivers_and_resets_session(
        make_tern, sink, tmp_path):
    pem, crt = make_cert(tmp_path)
    t = make_tern(routes={"example.test": sink}, extra=tls_conf(pem))
    with smtplib.SMTP(LOOPBACK, t.smtp_port, local_hostname="client.test",
                      timeout=scaled(30)) as s:
        s.ehlo()
        assert s.has_extn("starttls")
        s.starttls(context=client_ctx(crt))
        subject = dict(x[0] for x in s.sock.getpeercert()["subject"])
        assert subject["commonName"] == CN
        assert s.sock.version() in ("TLSv1.2", "TLSv1.3")
        s.ehlo()
        # Offered once only; not again inside TLS.
        assert not s.has_extn("starttls")
        t.send_on(s, SENDER, ["tls@example.test"],
                  make_message(subject="over tls", to="tls@example.test"))
    got = t.wait_messages(sink, 1, rcpt="tls@example.test")
    assert b"Subject: over tls" in got[0].data


def test_starttls_with_encrypted_key_and_password(make_tern, sink, tmp_path):
    pem, crt = make_cert(tmp_path, password="s3cret")
    t = make_tern(routes={"example.test": sink},
                  extra=tls_conf(pem, password="s3cret"))
    with smtplib.SMTP(LOOPBACK, t.smtp_port, timeout=scaled(30)) as s:
        s.ehlo()
        s.starttls(context=client_ctx(crt))
        assert s.noop()[0] == 250


def test_starttls_ignores_commands_pipelined_before_handshake(
        make_tern, sink, tmp_path):
    """RFC 3207 section 6: what was sent in clear after STARTTLS must not
    be executed inside the TLS session (command injection)."""
    pem, crt = make_cert(tmp_path)
    t = make_tern(routes={"example.test": sink}, extra=tls_conf(pem))
    c = Raw(t.smtp_port)
    try:
        c.cmd("EHLO client.test")
        c.send(b"STARTTLS\r\nHELP\r\n")
        code, _ = c.reply()
        assert code == 220
        c.sock = client_ctx(crt).wrap_socket(c.sock)
        c.buf = b""
        code, text = c.cmd("NOOP")
        assert (code, text) == (250, "250 2.0.0 ok"), text
        # A fresh session: MAIL needs EHLO again.
        code, _ = c.cmd(f"MAIL FROM:<{SENDER}>")
        assert code == 503
    finally:
        c.close()


def test_no_starttls_without_certificate(tern):
    with tern.smtp() as s:
        assert not s.has_extn("starttls")
        code, msg = s.docmd("STARTTLS")
        assert code == 502, msg


def test_starttls_refuses_tls_1_1(make_tern, sink, tmp_path):
    pem, crt = make_cert(tmp_path)
    t = make_tern(routes={"example.test": sink}, extra=tls_conf(pem))
    ctx = client_ctx(crt)
    try:
        ctx.minimum_version = ssl.TLSVersion.TLSv1_1
        ctx.maximum_version = ssl.TLSVersion.TLSv1_1
        ctx.set_ciphers("ALL:@SECLEVEL=0")
    except (ValueError, ssl.SSLError):
        pytest.skip("this OpenSSL cannot even offer TLS 1.1")
    with smtplib.SMTP(LOOPBACK, t.smtp_port, timeout=scaled(30)) as s:
        s.ehlo()
        with pytest.raises((ssl.SSLError, OSError)):
            s.starttls(context=ctx)
    # The server lives on.
    with t.smtp() as s:
        assert s.noop()[0] == 250


# ---------------------------------------------------------------- AUTH

USERS = {
    "alice": ("alice-pw-2y", "2y"),
    "bob": ("bob-pw-6", "6"),
    "carol": ("carol-pw-5", "5"),
}


def auth_tern(make_tern, sink, tmp_path, source_extra=""):
    pem, crt = make_cert(tmp_path)
    pw = htpasswd(tmp_path / "passwd", USERS)
    t = start_tern(make_tern, sink, source=(
        f"    auth-plain {pw}\n"
        f"    require-auth yes\n{source_extra}"), extra=(
        f"smtp-server-tls-certificate {pem}\n"
        f"<smtp-user dave>\n"
        f"    password dave-plain-pw\n"
        f"</smtp-user>\n"))
    return t, crt


def tls_client(t, crt):
    s = smtplib.SMTP(LOOPBACK, t.smtp_port, local_hostname="client.test",
                     timeout=scaled(30))
    s.ehlo()
    s.starttls(context=client_ctx(crt))
    s.ehlo()
    return s


@pytest.mark.parametrize("user", ["alice", "bob", "carol", "dave"])
def test_auth_plain_each_hash_scheme_and_smtp_user(make_tern, sink,
                                                    tmp_path, user):
    t, crt = auth_tern(make_tern, sink, tmp_path)
    pw = USERS[user][0] if user in USERS else "dave-plain-pw"
    rcpt = f"{user}@example.test"
    with tls_client(t, crt) as s:
        assert "PLAIN" in s.esmtp_features["auth"].upper()
        assert "LOGIN" in s.esmtp_features["auth"].upper()
        code, msg = s.docmd("AUTH", "PLAIN " + plain(user, pw))
        assert code == 235, msg
        t.send_on(s, SENDER, [rcpt], make_message(to=rcpt))
    got = t.wait_messages(sink, 1, rcpt=rcpt)[0]
    assert b" with ESMTPSA" in got.data.split(b"\r\n\r\n")[0]
    row = t.wait_acct("d", rcpt)[0]
    assert row["rcvSmtpUser"] == user


def test_auth_login_mechanism(make_tern, sink, tmp_path):
    t, crt = auth_tern(make_tern, sink, tmp_path)
    with tls_client(t, crt) as s:
        code, msg = s.docmd("AUTH", "LOGIN")
        assert (code, msg) == (334, b"VXNlcm5hbWU6")
        code, msg = s.docmd(b64("bob"))
        assert (code, msg) == (334, b"UGFzc3dvcmQ6")
        code, msg = s.docmd(b64("bob-pw-6"))
        assert code == 235, msg
        # smtplib's own login() (it picks PLAIN or LOGIN) on a new session
    with tls_client(t, crt) as s:
        s.login("carol", "carol-pw-5")
        t.send_on(s, SENDER, ["c@example.test"], make_message())
    t.wait_messages(sink, 1, rcpt="c@example.test")


def test_require_auth_refuses_mail_until_authenticated(make_tern, sink,
                                                       tmp_path):
    t, crt = auth_tern(make_tern, sink, tmp_path)
    with tls_client(t, crt) as s:
        code, msg = s.mail(SENDER)
        assert code == 530 and msg.startswith(b"5.7.0"), msg
        s.login("alice", "alice-pw-2y")
        assert s.mail(SENDER)[0] == 250


def test_auth_needs_tls_unless_allowed(make_tern, sink, tmp_path):
    t, crt = auth_tern(make_tern, sink, tmp_path)
    with t.smtp() as s:
        assert not s.has_extn("auth")
        code, msg = s.docmd("AUTH", "PLAIN " + plain("alice", "alice-pw-2y"))
        assert code == 538, msg


def test_auth_unencrypted_when_allowed(make_tern, sink, tmp_path):
    t, crt = auth_tern(make_tern, sink, tmp_path,
                       source_extra="    allow-unencrypted-plain-auth yes\n")
    with t.smtp() as s:
        assert s.has_extn("auth")
        s.login("bob", "bob-pw-6")
        t.send_on(s, SENDER, ["u@example.test"], make_message())
    t.wait_messages(sink, 1, rcpt="u@example.test")


def test_auth_failures_are_slowed_then_disconnected(make_tern, sink,
                                                    tmp_path, monkeypatch):
    monkeypatch.setenv("TERN_VERBOSE", "1")     # log every command
    t, crt = auth_tern(make_tern, sink, tmp_path)
    c = Raw(t.smtp_port)
    try:
        c.cmd("EHLO client.test")
        c.starttls(client_ctx(crt))
        c.cmd("EHLO client.test")
        code, _ = c.cmd("AUTH PLAIN " + plain("alice", "wrong-one"))
        assert code == 535
        start = time.monotonic()
        code, _ = c.cmd("AUTH PLAIN " + plain("alice", "wrong-two"))
        assert code == 535
        # The second failure waited for the first one's delay (1 s).
        assert time.monotonic() - start >= 0.9
        c.send(b"AUTH LOGIN\r\n")
        assert c.reply()[0] == 334
        assert c.cmd(b64("alice"))[0] == 334
        code, text = c.cmd(b64("wrong-three"))
        assert code == 535
        code, text = c.reply()
        assert code == 421, text
    finally:
        c.close()
    log = t.log_text()
    assert "authentication failed" in log
    for secret in ("wrong-one", "wrong-two", "wrong-three",
                   plain("alice", "wrong-one"), b64("wrong-three")):
        assert secret not in log, f"{secret} logged"


def test_auth_failure_rate_locks_the_client_out(make_tern, sink, tmp_path):
    t, crt = auth_tern(make_tern, sink, tmp_path, source_extra=(
        "    allow-unencrypted-plain-auth yes\n"
        "    smtp-max-auth-failure-rate 2/10m\n"))
    with t.smtp() as s:
        assert s.docmd("AUTH", "PLAIN " + plain("bob", "nope-1"))[0] == 535
        assert s.docmd("AUTH", "PLAIN " + plain("bob", "nope-2"))[0] == 535
    # A new connection, even with the right password: locked out.
    with t.smtp() as s:
        code, msg = s.docmd("AUTH", "PLAIN " + plain("bob", "bob-pw-6"))
        assert code == 454, msg
        assert s.mail(SENDER)[0] == 530


def test_auth_cancel_and_bad_mechanism(make_tern, sink, tmp_path):
    t, crt = auth_tern(make_tern, sink, tmp_path)
    with tls_client(t, crt) as s:
        assert s.docmd("AUTH", "CRAM-SHA9")[0] == 504
        assert s.docmd("AUTH", "LOGIN")[0] == 334
        assert s.docmd("*")[0] == 501
        assert s.noop()[0] == 250


# ------------------------------------------------------- relay policy

def test_relay_only_from_allowed_sources(make_tern, sink):
    t = make_tern(routes={"example.test": sink}, extra=(
        "<source 127.0.0.2>\n"
        "    always-allow-relaying yes\n"
        "</source>\n"))
    with smtplib.SMTP(LOOPBACK, t.smtp_port, timeout=scaled(30),
                      source_address=("127.0.0.2", 0)) as s:
        s.ehlo()
        t.send_on(s, SENDER, ["ok2@example.test"], make_message())
    with smtplib.SMTP(LOOPBACK, t.smtp_port, timeout=scaled(30),
                      source_address=("127.0.0.3", 0)) as s:
        s.ehlo()
        assert s.mail(SENDER)[0] == 250
        code, msg = s.rcpt("no3@example.test")
        assert code == 550 and msg.startswith(b"5.7.1"), msg
        # postmaster is always accepted (RFC 5321 4.5.1)
        assert s.rcpt("postmaster")[0] == 250
    t.wait_messages(sink, 1, rcpt="ok2@example.test")
    assert not sink.messages_for("no3@example.test")


def test_most_specific_source_wins(make_tern, sink):
    """The seeds' <accepted-connect> lets a whole network submit; a more
    specific <source> inside it takes that away again."""
    t = make_tern(routes={"example.test": sink}, extra=(
        "<accepted-connect 127.0.0.0/8>\n"
        "    allow-submission yes\n"
        "</accepted-connect>\n"
        "<source 127.0.0.3/32>\n"
        "    always-allow-relaying no\n"
        "</source>\n"))
    with smtplib.SMTP(LOOPBACK, t.smtp_port, timeout=scaled(30),
                      source_address=("127.0.0.2", 0)) as s:
        s.ehlo()
        t.send_on(s, SENDER, ["net2@example.test"], make_message())
    with smtplib.SMTP(LOOPBACK, t.smtp_port, timeout=scaled(30),
                      source_address=("127.0.0.3", 0)) as s:
        s.ehlo()
        s.mail(SENDER)
        code, msg = s.rcpt("net3@example.test")
        assert code == 550 and msg.startswith(b"5.7.1"), msg
    t.wait_messages(sink, 1, rcpt="net2@example.test")


def test_authenticated_client_may_relay(make_tern, sink, tmp_path):
    pw = htpasswd(tmp_path / "passwd", USERS)
    t = make_tern(routes={"example.test": sink}, extra=(
        "<source 127.0.0.3>\n"
        f"    auth-plain {pw}\n"
        "    allow-unencrypted-plain-auth yes\n"
        "</source>\n"))
    with smtplib.SMTP(LOOPBACK, t.smtp_port, timeout=scaled(30),
                      source_address=("127.0.0.3", 0)) as s:
        s.ehlo()
        s.mail(SENDER)
        assert s.rcpt("x3@example.test")[0] == 550
        s.rset()
        s.login("carol", "carol-pw-5")
        t.send_on(s, SENDER, ["x3@example.test"], make_message())
    t.wait_messages(sink, 1, rcpt="x3@example.test")


# ------------------------------------------------------ connection limits

def _banner(port, source):
    c = Raw(port, source=source)
    return c, c.banner[0]


def test_max_smtp_in_per_source_and_group(make_tern, sink):
    t = make_tern(routes={"example.test": sink}, extra=(
        "<source 127.0.0.2>\n"
        "    max-smtp-in 2\n"
        "</source>\n"
        "<source-group shared>\n"
        "    max-smtp-in 1\n"
        "</source-group>\n"
        "<source 127.0.0.4>\n"
        "    source-group shared\n"
        "</source>\n"
        "<source 127.0.0.5>\n"
        "    source-group shared\n"
        "</source>\n"))
    held = []
    try:
        for _ in range(2):
            c, code = _banner(t.smtp_port, "127.0.0.2")
            held.append(c)
            assert code == 220
        c, code = _banner(t.smtp_port, "127.0.0.2")
        c.close()
        assert code == 421, "third connection from the source"
        # Another client is not affected.
        c, code = _banner(t.smtp_port, "127.0.0.3")
        c.close()
        assert code == 220
        # The group: .4 and .5 share one slot.
        c, code = _banner(t.smtp_port, "127.0.0.4")
        held.append(c)
        assert code == 220
        c, code = _banner(t.smtp_port, "127.0.0.5")
        c.close()
        assert code == 421, "second connection of the source group"
        # A slot comes back when a connection ends.
        held.pop(0).cmd("QUIT")

        def again():
            c, code = _banner(t.smtp_port, "127.0.0.2")
            c.close()
            return code == 220
        t.wait_for(again, timeout=10, what="a slot for 127.0.0.2 again")
    finally:
        for c in held:
            c.close()


def test_global_max_smtp_in_is_per_client_ip(make_tern, sink):
    t = make_tern(routes={"example.test": sink}, extra="max-smtp-in 1\n")
    a, code = _banner(t.smtp_port, "127.0.0.2")
    try:
        assert code == 220
        c, code = _banner(t.smtp_port, "127.0.0.2")
        c.close()
        assert code == 421
        c, code = _banner(t.smtp_port, "127.0.0.3")
        c.close()
        assert code == 220
    finally:
        a.close()


# ------------------------------------------------------------- headers

VMTA_CONF = ("<virtual-mta vm1>\n"
             "    smtp-source-host 127.0.0.1 vm1.tern.test\n"
             "</virtual-mta>\n")


def _headers(data: bytes) -> bytes:
    return data.split(b"\r\n\r\n", 1)[0]


def test_x_virtual_mta_job_envid_processed_and_removed(make_tern, sink):
    t = start_tern(make_tern, sink, source=(
        "    always-allow-relaying yes\n"
        "    process-x-virtual-mta yes\n"
        "    process-x-job yes\n"
        "    process-x-envid yes\n"), extra=VMTA_CONF)
    msg = make_message(subject="hdr", to="h@example.test", headers=(
        "X-Virtual-MTA: vm1", "X-Job:  campaign-7 ", "X-EnvId: env-99",
        "X-Other: stays"), body="X-Job: in the body stays\n")
    t.send(SENDER, ["h@example.test"], msg)
    got = t.wait_messages(sink, 1, rcpt="h@example.test")[0]
    hdrs = _headers(got.data).lower()
    assert b"x-virtual-mta" not in hdrs
    assert b"x-job" not in hdrs
    assert b"x-envid" not in hdrs
    assert b"x-other: stays" in hdrs
    assert b"X-Job: in the body stays" in got.data
    row = t.wait_acct("d", "h@example.test")[0]
    assert row["vmta"] == "vm1"
    assert row["queue"] == "example.test/vm1"
    assert row["jobId"] == "campaign-7"
    assert row["envId"] == "env-99"


def test_x_headers_left_alone_when_not_enabled(tern, sink):
    msg = make_message(to="n@example.test", headers=("X-Virtual-MTA: vm1",
                                                     "X-Job: j1"))
    tern.send(SENDER, ["n@example.test"], msg)
    got = tern.wait_messages(sink, 1, rcpt="n@example.test")[0]
    assert b"X-Virtual-MTA: vm1" in got.data and b"X-Job: j1" in got.data
    row = tern.wait_acct("d", "n@example.test")[0]
    assert row["vmta"] in ("", "{default}") and row["jobId"] == ""


def test_unknown_x_virtual_mta_is_rejected(make_tern, sink):
    t = start_tern(make_tern, sink, source=(
        "    always-allow-relaying yes\n"
        "    process-x-virtual-mta yes\n"), extra=VMTA_CONF)
    with pytest.raises(smtplib.SMTPDataError) as e:
        t.send(SENDER, ["u@example.test"], make_message(
            headers=("X-Virtual-MTA: nosuch",)))
    assert e.value.smtp_code == 550


def test_default_virtual_mta_of_source(make_tern, sink):
    t = start_tern(make_tern, sink, source=(
        "    always-allow-relaying yes\n"
        "    default-virtual-mta vm1\n"), extra=VMTA_CONF)
    t.send(SENDER, ["dv@example.test"], make_message())
    row = t.wait_acct("d", "dv@example.test")[0]
    assert row["vmta"] == "vm1" and row["queue"] == "example.test/vm1"


def test_message_id_and_date_added_when_missing(make_tern, sink):
    t = start_tern(make_tern, sink, source=(
        "    always-allow-relaying yes\n"
        "    add-message-id-header yes\n"
        "    add-date-header yes\n"))
    bare = (b"From: <a@client.test>\r\nSubject: bare\r\n\r\nbody\r\n")
    t.send(SENDER, ["md@example.test"], bare)
    full = make_message(subject="full", to="mf@example.test")
    t.send(SENDER, ["mf@example.test"], full)
    got = t.wait_messages(sink, 1, rcpt="md@example.test")[0]
    hdrs = _headers(got.data)
    assert re.search(rb"(?m)^Message-ID: <[^>]+@tern\.test>\r?$", hdrs), hdrs
    assert re.search(rb"(?m)^Date: \w{3}, \d\d \w{3} \d{4} ", hdrs), hdrs
    assert got.data.endswith(b"\r\n\r\nbody\r\n")
    got = t.wait_messages(sink, 1, rcpt="mf@example.test")[0]
    assert got.data.endswith(full)      # nothing added, nothing changed


def test_header_section_too_big(make_tern, sink):
    t = start_tern(make_tern, sink, source=(
        "    always-allow-relaying yes\n"
        "    process-x-job yes\n"))
    many = tuple(f"X-Filler-{i}: " + "f" * 900 for i in range(1300))
    with pytest.raises(smtplib.SMTPDataError) as e:
        t.send(SENDER, ["big@example.test"], make_message(headers=many))
    assert e.value.smtp_code == 552
    # The session and the daemon go on.
    t.send(SENDER, ["small@example.test"], make_message(
        headers=("X-Job: after",)))
    t.wait_messages(sink, 1, rcpt="small@example.test")


# ---------------------------------------------------------- CHUNKING

def _bdat_session(t):
    c = Raw(t.smtp_port)
    code, text = c.cmd("EHLO client.test")
    assert "CHUNKING" in text
    return c


def test_bdat_chunks_arrive_intact(tern, sink):
    body = make_message(subject="chunked", to="ch@example.test",
                        body="line one\n.dot line\n" + ("z" * 900 + "\n") * 8)
    c = _bdat_session(tern)
    try:
        assert c.cmd(f"MAIL FROM:<{SENDER}>")[0] == 250
        assert c.cmd("RCPT TO:<ch@example.test>")[0] == 250
        first, rest = body[:100], body[100:]
        c.send(f"BDAT {len(first)}\r\n".encode() + first)
        assert c.reply()[0] == 250
        # Pipelined: the LAST chunk and a NOOP in one write.
        c.send(f"BDAT {len(rest)} LAST\r\n".encode() + rest + b"NOOP\r\n")
        code, text = c.reply()
        assert code == 250 and "queued" in text, text
        assert c.reply()[0] == 250
        # DATA is refused inside a BDAT transaction, but a new one is fine.
        assert c.cmd(f"MAIL FROM:<{SENDER}>")[0] == 250
        assert c.cmd("RCPT TO:<ch2@example.test>")[0] == 250
        c.send(b"BDAT 0 LAST\r\n")
        assert c.reply()[0] == 250
    finally:
        c.close()
    got = tern.wait_messages(sink, 1, rcpt="ch@example.test")
    # Only our Received: header in front; the rest octet for octet.
    assert got[0].data.endswith(body)


def test_bdat_with_header_processing(make_tern, sink):
    """X-Job split across two chunks is still found and removed."""
    t = start_tern(make_tern, sink, source=(
        "    always-allow-relaying yes\n"
        "    process-x-job yes\n"))
    body = make_message(to="bj@example.test", headers=("X-Job: chunky",))
    cut = body.index(b"X-Job:") + 3
    c = _bdat_session(t)
    try:
        assert c.cmd(f"MAIL FROM:<{SENDER}>")[0] == 250
        assert c.cmd("RCPT TO:<bj@example.test>")[0] == 250
        c.send(f"BDAT {cut}\r\n".encode() + body[:cut])
        assert c.reply()[0] == 250
        rest = body[cut:]
        c.send(f"BDAT {len(rest)} LAST\r\n".encode() + rest)
        assert c.reply()[0] == 250
    finally:
        c.close()
    got = t.wait_messages(sink, 1, rcpt="bj@example.test")[0]
    assert b"X-Job" not in got.data
    assert t.wait_acct("d", "bj@example.test")[0]["jobId"] == "chunky"


def test_bdat_refused_chunks_are_skipped(tern, sink):
    c = _bdat_session(tern)
    try:
        # No transaction: refused, and its octets are not commands.
        c.send(b"BDAT 6\r\nQUIT\r\n")
        assert c.reply()[0] == 503
        assert c.cmd("NOOP")[0] == 250
        assert c.cmd(f"MAIL FROM:<{SENDER}>")[0] == 250
        c.send(b"BDAT 4\r\nabcd")
        assert c.reply()[0] == 554         # no recipients yet
        assert c.cmd("RCPT TO:<mix@example.test>")[0] == 250
        c.send(b"BDAT 4\r\nabcd")
        assert c.reply()[0] == 250
        assert c.cmd("DATA")[0] == 503
        assert c.cmd("RCPT TO:<mix2@example.test>")[0] == 503
        assert c.cmd("RSET")[0] == 250
        assert c.cmd("NOOP")[0] == 250
    finally:
        c.close()


def test_bdat_size_limit(make_tern, sink):
    t = make_tern(routes={"example.test": sink},
                  extra="max-message-size 2k\n")
    c = _bdat_session(t)
    try:
        assert c.cmd(f"MAIL FROM:<{SENDER}>")[0] == 250
        assert c.cmd("RCPT TO:<big@example.test>")[0] == 250
        c.send(b"BDAT 1500\r\n" + b"a" * 1500)
        assert c.reply()[0] == 250
        c.send(b"BDAT 1500 LAST\r\n" + b"b" * 1500)
        code, text = c.reply()
        assert code == 552, text
        assert c.cmd("NOOP")[0] == 250
    finally:
        c.close()
    time.sleep(scaled(1))
    assert not sink.messages_for("big@example.test")


# ------------------------------------------------------- back-pressure

def test_spool_limit_gives_452_and_recovers(make_tern, sink):
    """spool-max-recipients 5 and a destination that defers everything:
    once 5 recipients wait, new mail gets 452 4.3.1 at MAIL, nothing
    accepted is lost, and once the queue drains mail is accepted again."""
    sink.add_rule("RCPT", "451 4.3.0 come back later", count=None)
    t = make_tern(routes={"example.test": sink},
                  extra="spool-max-recipients 5\n")
    for i in range(5):
        t.send(SENDER, [f"bp{i}@example.test"], make_message())

    # The very first message over the limit is refused at MAIL (queued
    # told smtpd before the 250 of the 5th), in a session that started
    # after the spool went over and in one that was already open.
    with t.smtp() as s:
        code, msg = s.mail(SENDER)
        assert (code, msg[:5]) == (452, b"4.3.1"), msg
        s.rset()
        code, msg = s.mail(SENDER)
        assert (code, msg[:5]) == (452, b"4.3.1"), msg
    with pytest.raises(smtplib.SMTPSenderRefused) as e:
        t.send(SENDER, ["bp-extra@example.test"], make_message())
    assert e.value.smtp_code == 452, e.value

    sink.clear_rules()
    for i in range(5):
        t.wait_messages(sink, 1, rcpt=f"bp{i}@example.test", timeout=30)

    def accepted():
        try:
            t.send(SENDER, ["bp-after@example.test"], make_message())
            return True
        except smtplib.SMTPException:
            return False
    t.wait_for(accepted, timeout=30, interval=0.5,
               what="mail accepted again after the queue drained")
    t.wait_messages(sink, 1, rcpt="bp-after@example.test")
    assert not sink.messages_for("bp-extra@example.test")


def test_data_begun_before_the_spool_filled_gets_452(make_tern, sink):
    """A transaction's MAIL and RCPT were accepted; meanwhile other mail
    fills the spool (spool-max-recipients 2, a destination that defers):
    its DATA gets 452 4.3.1, although smtpd holds scratch files queued
    handed it ahead, and nothing of it is queued."""
    sink.add_rule("RCPT", "451 4.3.0 come back later", count=None)
    t = make_tern(routes={"example.test": sink},
                  extra="spool-max-recipients 2\n")
    with t.smtp() as s:
        assert s.mail(SENDER)[0] == 250
        assert s.rcpt("late@example.test")[0] == 250
        for i in range(2):
            t.send(SENDER, [f"fill{i}@example.test"], make_message())
        code, msg = s.docmd("DATA")
        assert (code, msg[:5]) == (452, b"4.3.1"), (code, msg)
        s.rset()
    status = cli_json(t, "show", "status")["status"]
    assert status["queue"]["recipients"] == 2, status
    sc = status["scratch"]
    assert sc["receiving"] == sc["ahead"], sc   # no file for the refused


# ------------------------------------------------------------------ DSN

class _DsnHandler:
    """aiosmtpd handler of a receiver that offers DSN (aiosmtpd itself does
    not know the extension): records the raw MAIL and RCPT arguments."""

    def __init__(self):
        self.mail_args, self.rcpt_args, self.messages = [], [], []

    async def handle_EHLO(self, server, session, envelope, hostname,
                          responses):
        session.host_name = hostname
        return responses[:-1] + ["250-DSN", responses[-1]]

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(envelope.original_content)
        return "250 2.0.0 ok"


def _without(arg, keys):
    return " ".join(w for w in arg.split()
                    if w.split("=", 1)[0].upper() not in keys)


def test_dsn_parameters_reach_the_next_server(make_tern):
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import SMTP as AioSMTP

    handler = _DsnHandler()

    class DsnSMTP(AioSMTP):
        async def smtp_MAIL(self, arg):
            handler.mail_args.append(arg)
            await super().smtp_MAIL(_without(arg, {"RET", "ENVID"}))

        async def smtp_RCPT(self, arg):
            handler.rcpt_args.append(arg)
            await super().smtp_RCPT(_without(arg, {"NOTIFY", "ORCPT"}))

    class DsnController(Controller):
        def factory(self):
            return DsnSMTP(self.handler, **self.SMTP_kwargs)

    from conftest import free_port
    port = free_port()
    ctl = DsnController(handler, hostname=LOOPBACK, port=port,
                        ready_timeout=scaled(10))
    ctl.start()
    try:
        t = make_tern(routes={"dsn.test": port})
        with t.smtp() as s:
            t.send_on(s, SENDER, ["who@dsn.test"], make_message(),
                      mail_options=["RET=HDRS", "ENVID=env+2Did-42"],
                      rcpt_options=["NOTIFY=SUCCESS,FAILURE",
                                    "ORCPT=rfc822;orig@dsn.test"])
        t.wait_for(lambda: handler.messages, what="message at DSN sink")
        mail = " ".join(a for a in handler.mail_args if "sender@" in a)
        rcpt = " ".join(a for a in handler.rcpt_args if "who@" in a)
        assert "RET=HDRS" in mail, handler.mail_args
        assert "ENVID=env+2Did-42" in mail, handler.mail_args
        assert "NOTIFY=SUCCESS,FAILURE" in rcpt, handler.rcpt_args
        assert "ORCPT=rfc822;orig@dsn.test" in rcpt, handler.rcpt_args
    finally:
        ctl.stop()


# ------------------------------------------------------ protocol and input

def test_pipelined_transaction_in_one_write(tern, sink):
    c = Raw(tern.smtp_port)
    try:
        c.send(b"EHLO client.test\r\nMAIL FROM:<" + SENDER.encode() +
               b">\r\nRCPT TO:<p1@example.test>\r\nRCPT TO:<p2@example.test>"
               b"\r\nDATA\r\n")
        codes = [c.reply()[0] for _ in range(5)]
        assert codes == [250, 250, 250, 250, 354], codes
        c.send(make_message(to="p1@example.test") + b".\r\nQUIT\r\n")
        code, text = c.reply()
        assert code == 250 and "queued" in text
        assert c.reply()[0] == 221
    finally:
        c.close()
    got = tern.wait_messages(sink, 1, rcpt="p1@example.test")
    assert "p2@example.test" in got[0].rcpt_tos


@pytest.mark.parametrize("line, code", [
    (b"FROBNICATE", 500),
    (b"MAIL FROM:<no spaces allowed@x.test>", 501),
    (b"MAIL FROM:<" + SENDER.encode() + b"> SIZE=abc", 501),
    (b"MAIL FROM:<" + SENDER.encode() + b"> FOO=BAR", 555),
    (b"NOOP \x00 hidden", 554),
    (b"NOOP " + b"x" * 2000, 500),
    (b"VRFY postmaster", 502),
    (b"EXPN staff", 502),
    (b"RCPT TO:<r@example.test>", 503),
    (b"DATA", 503),
])
def test_bad_input_gets_an_error_and_the_session_goes_on(tern, line, code):
    c = Raw(tern.smtp_port)
    try:
        assert c.cmd("EHLO client.test")[0] == 250
        c.send(line + b"\r\n")
        got, text = c.reply()
        assert got == code, text
        assert c.cmd("NOOP") == (250, "250 2.0.0 ok")
    finally:
        c.close()


def test_bad_recipient_syntax_and_sequence(tern):
    c = Raw(tern.smtp_port)
    try:
        c.cmd("EHLO client.test")
        assert c.cmd(f"MAIL FROM:<{SENDER}>")[0] == 250
        assert c.cmd("RCPT TO:<broken@>")[0] == 501
        assert c.cmd("DATA")[0] == 554          # no valid recipients
        assert c.cmd(f"MAIL FROM:<{SENDER}>")[0] == 503   # nested MAIL
    finally:
        c.close()


def test_too_many_errors_end_the_session(tern):
    c = Raw(tern.smtp_port)
    try:
        c.cmd("EHLO client.test")
        codes = []
        for _ in range(25):
            c.send(b"FROBNICATE\r\n")
            try:
                codes.append(c.reply()[0])
            except (EOFError, OSError):
                break
            if codes[-1] == 421:
                break
        assert codes[-1] == 421 and codes.count(500) >= 20, codes
    finally:
        c.close()


def test_bare_lf_and_oversize_data(make_tern, sink):
    t = make_tern(routes={"example.test": sink},
                  extra="max-message-size 4k\n")
    c = Raw(t.smtp_port)
    try:
        c.cmd("EHLO client.test")
        c.cmd(f"MAIL FROM:<{SENDER}>")
        c.cmd("RCPT TO:<lf@example.test>")
        assert c.cmd("DATA")[0] == 354
        c.send(b"Subject: lf\nX: y\n\nbare\nlines\r\n.\r\n")
        assert c.reply()[0] == 250
        c.cmd(f"MAIL FROM:<{SENDER}>")
        c.cmd("RCPT TO:<big@example.test>")
        assert c.cmd("DATA")[0] == 354
        c.send(b"Subject: big\r\n\r\n" + b"x" * 70 + b"\r\n" * 100 +
               (b"y" * 70 + b"\r\n") * 100 + b".\r\n")
        code, text = c.reply()
        assert code == 552, text
        assert c.cmd("NOOP")[0] == 250
    finally:
        c.close()
    got = t.wait_messages(sink, 1, rcpt="lf@example.test")[0]
    assert got.data.endswith(b"Subject: lf\r\nX: y\r\n\r\nbare\r\nlines\r\n")
    time.sleep(scaled(1))
    assert not sink.messages_for("big@example.test")


def test_recipient_limit_gives_452_4_5_3(tern, sink):
    """At most 1000 recipients per transaction (RFC 5321 4.5.3.1.8 asks
    for at least 100): the 1001st gets 452 4.5.3, the message still goes
    to the first 1000."""
    c = Raw(tern.smtp_port)
    try:
        c.cmd("EHLO client.test")
        assert c.cmd(f"MAIL FROM:<{SENDER}>")[0] == 250
        c.send(b"".join(b"RCPT TO:<r%d@example.test>\r\n" % i
                        for i in range(1001)))
        codes = [c.reply() for _ in range(1001)]
        assert all(code == 250 for code, _ in codes[:1000]), codes[:3]
        code, text = codes[1000]
        assert code == 452 and "4.5.3" in text, text
        assert c.cmd("DATA")[0] == 354
        c.send(make_message() + b".\r\n")
        assert c.reply()[0] == 250
    finally:
        c.close()
    got = tern.wait_messages(sink, 1, rcpt="r999@example.test", timeout=60)
    assert "r1000@example.test" not in got[0].rcpt_tos


def test_command_and_data_timeouts_of_the_source(make_tern, sink):
    """smtp-command-timeout and smtp-data-timeout of the <source>: an idle
    client gets 421 4.4.2 and the connection is closed; a transaction cut
    by the DATA timeout is not delivered."""
    t = start_tern(make_tern, sink,
                   source="    always-allow-relaying yes\n"
                          "    smtp-command-timeout 2s\n"
                          "    smtp-data-timeout 3s\n")
    c = Raw(t.smtp_port)
    try:
        c.cmd("EHLO client.test")
        code, text = c.reply()          # nothing sent: the timeout speaks
        assert code == 421 and "4.4.2" in text, text
        with pytest.raises((EOFError, ConnectionError)):
            c.reply()
    finally:
        c.close()
    c = Raw(t.smtp_port)
    try:
        c.cmd("EHLO client.test")
        c.cmd(f"MAIL FROM:<{SENDER}>")
        c.cmd("RCPT TO:<slow@example.test>")
        assert c.cmd("DATA")[0] == 354
        c.send(b"Subject: never finished\r\n\r\nhalf a message\r\n")
        code, text = c.reply()
        assert code == 421 and "4.4.2" in text, text
    finally:
        c.close()
    time.sleep(scaled(1))
    assert not sink.messages_for("slow@example.test")


def test_overlong_data_line_is_refused(tern, sink):
    """A message line beyond 64 KiB (RFC 5321 allows 1000 octets; Tern
    tolerates more, not without bound) fails the message with 554 5.6.0
    and the session goes on."""
    c = Raw(tern.smtp_port)
    try:
        c.cmd("EHLO client.test")
        c.cmd(f"MAIL FROM:<{SENDER}>")
        c.cmd("RCPT TO:<long@example.test>")
        assert c.cmd("DATA")[0] == 354
        c.send(b"Subject: long\r\n\r\n" + b"z" * (70 * 1024) + b"\r\n.\r\n")
        code, text = c.reply()
        assert code == 554 and "5.6.0" in text, text
        assert c.cmd("NOOP")[0] == 250
    finally:
        c.close()
    time.sleep(scaled(1))
    assert not sink.messages_for("long@example.test")


def test_smtputf8_address_and_received_header(tern, sink):
    """SMTPUTF8: a UTF-8 address is taken with the parameter, refused
    (553 5.6.7) without; the Received: header names the client's EHLO,
    its address, our host, the protocol, the queue id and the sender."""
    c = Raw(tern.smtp_port)
    try:
        c.cmd("EHLO client.test")
        code, text = c.cmd("MAIL FROM:<jösé@client.test>")
        assert code == 553 and "5.6.7" in text, text
        assert c.cmd("MAIL FROM:<jösé@client.test> SMTPUTF8")[0] == 250
        assert c.cmd("RCPT TO:<ütf@example.test>")[0] == 250
        assert c.cmd("DATA")[0] == 354
        c.send(make_message(subject="utf8") + b".\r\n")
        code, text = c.reply()
        assert code == 250, text
        qid = text.split()[2]
    finally:
        c.close()
    got = tern.wait_messages(sink, 1, rcpt="ütf@example.test")[0]
    first = got.data.split(b"\r\n\r\n", 1)[0].decode()
    first = re.split(r"\r\n(?![ \t])", first)[0].replace("\r\n\t", " ")
    assert re.match(
        r"Received: from client\.test \(127\.0\.0\.1\) by tern\.test "
        rf"\(Tern\) with UTF8SMTP id {qid} for <ütf@example\.test>; "
        r".+ \(envelope-from <jösé@client\.test>\)$", first), first
