"""Remote faults: receivers that misbehave, DNS that fails, a client that
trickles.

Each receiver here is a small socket server written for the test
(FaultServer): its first connection(s) misbehave in one way, later ones
speak plain SMTP and record what they receive.  For every fault the test
checks what a user would notice: the message gets a `t` accounting row
(retry), never a bounce, is delivered exactly once when the receiver
behaves again, and meanwhile a message to a healthy domain is delivered
by the same (single) deliverd worker while the fault is still going on:
a fault never wedges the queue or the worker.

deliverd's waits are shortened with PowerMTA's timeout directives
(smtp-greeting-timeout, smtp-multiple-line-response-timeout,
data-send-timeout, smtp-data-termination-timeout) in the faulty
domain's block, scaled like every wait of the tests.
"""

import socket
import threading
import time

import pytest

from conftest import (LOOPBACK, HostSink, free_port, make_message, scaled,
                      wait_for)

SENDER = "sender@client.test"
HEALTHY = "healthy@example.test"


def _secs(s: float) -> str:
    return f"{max(1, int(scaled(s)))}s"


class FaultServer:
    """A TCP server on 127.0.0.1 whose first `faulty` connections run
    `mode` and the others a minimal, well-behaved SMTP server.

    modes: hang (accept, say nothing), trickle (the banner one byte every
    half second, for ever), garbage (a banner, then nonsense instead of
    a reply to EHLO), endless (a reply line that never ends), drop-data
    (accept the transaction, close the connection in the middle of the
    message), tls-fail (offer STARTTLS, say 220, then send bytes that
    are no TLS handshake)."""

    def __init__(self, mode: str, faulty: int = 1):
        self.mode = mode
        self.faulty = faulty
        self.port = free_port()
        self.messages = []              # (conn, mail_from, rcpts, data)
        self.conns = 0
        self.open = set()
        self.starttls_seen = []         # conn numbers that sent STARTTLS
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._sock = None
        self._threads = []

    def __enter__(self):
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((LOOPBACK, self.port))
        self._sock.listen(16)
        self._sock.settimeout(0.2)
        t = threading.Thread(target=self._accept, daemon=True)
        t.start()
        self._threads.append(t)
        return self

    def __exit__(self, *exc):
        self._stop.set()
        for t in self._threads:
            t.join(5)
        self._sock.close()

    @property
    def addr(self) -> str:
        return f"{LOOPBACK}:{self.port}"

    def still_open(self, n: int) -> bool:
        with self._lock:
            return n in self.open

    def messages_for(self, rcpt: str) -> list:
        with self._lock:
            return [m for m in self.messages if rcpt in m[2]]

    def _accept(self):
        while not self._stop.is_set():
            try:
                c, _ = self._sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self._lock:
                self.conns += 1
                n = self.conns
                self.open.add(n)
            t = threading.Thread(target=self._serve, args=(c, n),
                                 daemon=True)
            t.start()
            self._threads.append(t)

    def _serve(self, c, n):
        c.settimeout(0.2)
        try:
            if n <= self.faulty:
                getattr(self, "_" + self.mode.replace("-", "_"))(c, n)
            else:
                self._smtp(c, n)
        except OSError:
            pass
        finally:
            with self._lock:
                self.open.discard(n)
            try:
                c.close()
            except OSError:
                pass

    # -- helpers

    def _readline(self, c, buf: bytearray):
        """One line (bytes, without CRLF) or None when the peer closed or
        the server stops."""
        while b"\n" not in buf:
            if self._stop.is_set():
                return None
            try:
                chunk = c.recv(4096)
            except socket.timeout:
                continue
            if not chunk:
                return None
            buf += chunk
        i = buf.index(b"\n")
        line = bytes(buf[:i]).rstrip(b"\r")
        del buf[:i + 1]
        return line

    def _wait_closed(self, c):
        """Hold the connection, reading and ignoring, until the peer goes."""
        while not self._stop.is_set():
            try:
                if not c.recv(4096):
                    return
            except socket.timeout:
                continue

    def _until_data(self, c, buf, ext=()):
        """Banner, EHLO, MAIL, RCPT, DATA -> 354; False if it went away."""
        c.sendall(b"220 fault.test ESMTP\r\n")
        while True:
            line = self._readline(c, buf)
            if line is None:
                return False
            verb = line[:4].upper()
            if verb in (b"EHLO", b"HELO"):
                lines = [b"fault.test"] + list(ext)
                out = b"".join(b"250-" + x + b"\r\n" for x in lines[:-1])
                c.sendall(out + b"250 " + lines[-1] + b"\r\n")
            elif verb == b"DATA":
                c.sendall(b"354 go on\r\n")
                return True
            elif verb == b"STAR":
                return "starttls"
            else:
                c.sendall(b"250 ok\r\n")

    # -- faults

    def _hang(self, c, n):
        self._wait_closed(c)

    def _trickle(self, c, n):
        for b in b"220 fault.test very slowly" * 100:
            if self._stop.is_set():
                return
            c.sendall(bytes([b]))
            time.sleep(0.5)

    def _garbage(self, c, n):
        buf = bytearray()
        c.sendall(b"220 fault.test\r\n")
        if self._readline(c, buf) is not None:
            c.sendall(b"hello? this is not SMTP at all\r\n")
        self._wait_closed(c)

    def _endless(self, c, n):
        c.sendall(b"220 fault.test\r\n")
        c.settimeout(scaled(30))
        # a reply line that never ends, until Tern gives up on it
        for _ in range(100000):
            if self._stop.is_set():
                return
            c.sendall(b"250-" + b"x" * 4000)

    def _drop_data(self, c, n):
        buf = bytearray()
        if self._until_data(c, buf) is True:
            self._readline(c, buf)          # a first line of the message
            c.shutdown(socket.SHUT_RDWR)

    def _tls_fail(self, c, n):
        buf = bytearray()
        if self._until_data(c, buf, ext=[b"STARTTLS"]) == "starttls":
            with self._lock:
                self.starttls_seen.append(n)
            c.sendall(b"220 go ahead\r\n")
            c.sendall(b"this is no TLS server hello\r\n" * 4)
        self._wait_closed(c)

    # -- the well-behaved server

    def _smtp(self, c, n):
        buf = bytearray()
        mail_from, rcpts = None, []
        c.sendall(b"220 fault.test ESMTP\r\n")
        while True:
            line = self._readline(c, buf)
            if line is None:
                return
            verb = line[:4].upper()
            if verb in (b"EHLO", b"HELO"):
                c.sendall(b"250-fault.test\r\n250 STARTTLS\r\n")
            elif verb == b"STAR":
                with self._lock:
                    self.starttls_seen.append(n)
                c.sendall(b"454 4.7.0 not now\r\n")
            elif verb == b"MAIL":
                mail_from, rcpts = line[10:].decode(), []
                c.sendall(b"250 ok\r\n")
            elif verb == b"RCPT":
                rcpts.append(line[8:].decode().strip("<> ").split(">")[0])
                c.sendall(b"250 ok\r\n")
            elif verb == b"DATA":
                c.sendall(b"354 go on\r\n")
                data = []
                while (dl := self._readline(c, buf)) not in (b".", None):
                    data.append(dl)
                if dl is None:
                    return
                with self._lock:
                    self.messages.append((n, mail_from, rcpts,
                                          b"\r\n".join(data)))
                c.sendall(b"250 ok\r\n")
            elif verb == b"QUIT":
                c.sendall(b"221 bye\r\n")
                return
            else:
                c.sendall(b"250 ok\r\n")


FAULT_TIMEOUTS = {
    # the wait that ends each fault; long enough that the healthy
    # message goes through while the fault is still going on
    "hang": "smtp-greeting-timeout",
    "trickle": "smtp-greeting-timeout",
    "garbage": None,
    "endless": None,
    "drop-data": None,
    "tls-fail": "smtp-greeting-timeout",
}


def _fault_tern(make_tern, sink, fault, hold: float = 8):
    settings = "\n".join([
        f"smtp-greeting-timeout {_secs(hold)}",
        f"smtp-multiple-line-response-timeout {_secs(hold)}",
        f"data-send-timeout {_secs(hold)}",
        f"smtp-data-termination-timeout {_secs(hold)}",
    ])
    return make_tern(routes={"example.test": sink, "fault.test": fault.addr},
                     domain_settings={"fault.test": settings},
                     deliverd_processes=1, retry_after="1s")


@pytest.mark.parametrize("mode", list(FAULT_TIMEOUTS))
def test_remote_fault_is_retried_and_wedges_nothing(make_tern, sink, mode):
    """One worker, two domains: fault.test misbehaves on the first
    connection, example.test is healthy.  The healthy message is delivered
    while the faulty connection is still held (hang, trickle) or right
    after it failed; the faulty one gets a t row, no b row, and is
    delivered exactly once by the retry."""
    rcpt = f"{mode}@fault.test"
    with FaultServer(mode) as fault:
        t = _fault_tern(make_tern, sink, fault)
        t.send(SENDER, [rcpt], make_message(to=rcpt))
        t.wait_for(lambda: fault.conns >= 1,
                   what=f"Tern to connect to the {mode} receiver")

        t.send(SENDER, [HEALTHY], make_message(to=HEALTHY))
        t.wait_messages(sink, 1, rcpt=HEALTHY)
        if FAULT_TIMEOUTS[mode] is not None and mode != "tls-fail":
            # the worker delivered while its other connection was stuck
            assert fault.still_open(1), \
                f"the {mode} connection ended before the healthy delivery"

        [row] = t.wait_acct("t", rcpt, timeout=40)[:1]
        assert row["dsnStatus"].startswith("4."), row
        assert t.acct_rows("b", rcpt) == []

        t.wait_for(lambda: fault.messages_for(rcpt), timeout=40,
                   what=f"delivery of {rcpt} after the {mode} fault")
        t.wait_acct("d", rcpt)
        if mode == "tls-fail":
            # opportunistic TLS: the retry went in clear, not into the
            # same broken handshake
            later = [n for n in fault.starttls_seen if n > 1]
            assert later == [], fault.starttls_seen

        # and mail keeps flowing afterwards
        after = "after@example.test"
        t.send(SENDER, [after], make_message(to=after))
        t.wait_messages(sink, 1, rcpt=after)
        time.sleep(scaled(2))
        assert len(fault.messages_for(rcpt)) == 1, fault.messages
        assert t.acct_rows("b", rcpt) == []


def test_drop_after_final_dot_is_retried_and_counted(make_tern, sink):
    """The receiver reads the whole message and closes the connection
    instead of answering the final dot: Tern cannot know whether it took
    the message, records a t row that says so, and delivers again (the
    documented duplicate window of a lost final reply)."""
    rcpt = "eom@fault.test"

    class DropAtDot(FaultServer):
        def _drop_data(self, c, n):
            buf = bytearray()
            if self._until_data(c, buf) is True:
                while self._readline(c, buf) not in (b".", None):
                    pass
                c.shutdown(socket.SHUT_RDWR)

    with DropAtDot("drop-data") as fault:
        t = _fault_tern(make_tern, sink, fault)
        t.send(SENDER, [rcpt], make_message(to=rcpt))
        [row] = t.wait_acct("t", rcpt, timeout=40)[:1]
        assert "may have been delivered" in row["dsnDiag"], row
        t.wait_for(lambda: fault.messages_for(rcpt), timeout=40,
                   what="the retry")
        t.wait_acct("d", rcpt)
        assert t.acct_rows("b", rcpt) == []


@pytest.mark.parametrize("failure", ["TIMEOUT", "SERVFAIL"])
def test_dns_failure_is_retried_and_wedges_nothing(make_tern, sink,
                                                   catchall, dns_zone,
                                                   failure):
    """A domain whose name server times out or fails: t rows, still
    queued (no b row), routed mail meanwhile delivered by the same worker,
    and the message delivered once DNS answers again."""
    port = free_port()
    dns = dns_zone({"dnsfault.test": failure})
    rcpt = "a@dnsfault.test"
    with HostSink("127.0.0.9", port, "dnsfault") as late:
        t = make_tern(default_route=None,
                      routes={"example.test": sink, "client.test": catchall},
                      domain_settings={"dnsfault.test": f"smtp-port {port}"},
                      extra=f"name-server {dns.addr}\n"
                            f"dns-timeout {_secs(2)}\n",
                      deliverd_processes=1, retry_after="1s")
        t.send(SENDER, [rcpt], make_message(to=rcpt))
        t.wait_for(lambda: dns.count("dnsfault.test"),
                   what="a DNS query for dnsfault.test")
        t.send(SENDER, [HEALTHY], make_message(to=HEALTHY))
        t.wait_messages(sink, 1, rcpt=HEALTHY)

        row = t.wait_acct("t", rcpt, timeout=30)[0]
        assert row["dsnStatus"].startswith("4.4.3"), row
        assert t.acct_rows("b", rcpt) == []
        q = t.cli("show", "queues")
        assert "dnsfault.test" in q.stdout, q.stdout + q.stderr

        dns.zone["dnsfault.test"] = {"MX": [(10, "mx.dnsfault.test")]}
        dns.zone["mx.dnsfault.test"] = {"A": ["127.0.0.9"]}
        t.wait_messages(late, 1, rcpt=rcpt, timeout=40)
        t.wait_acct("d", rcpt)
        time.sleep(scaled(2))
        assert len(late.messages_for(rcpt)) == 1


# ------------------------------------------------ slow-loris towards smtpd

def test_smtpd_times_out_a_trickling_client(make_tern, sink):
    """A client sends a command one byte at a time, slower than a line
    per smtp-command-timeout but faster than the timeout per byte: smtpd
    still answers 421 and closes once the timeout has passed since the
    last whole command, and serves other clients meanwhile."""
    t = make_tern(routes={"example.test": sink}, start=False)
    text = t.config_text().replace(
        "    always-allow-relaying yes\n",
        "    always-allow-relaying yes\n"
        f"    smtp-command-timeout {_secs(2)}\n")
    t._config_text = text
    t.start()

    slow = socket.create_connection((LOOPBACK, t.smtp_port),
                                    timeout=scaled(10))
    got = bytearray()
    done = threading.Event()

    def trickle():
        for b in b"EHLO " + b"x" * 400 + b"\r\n":
            if done.is_set():
                return
            try:
                slow.sendall(bytes([b]))
            except OSError:
                return
            time.sleep(0.25)

    def reader():
        while not done.is_set():
            try:
                chunk = slow.recv(4096)
            except socket.timeout:
                continue
            except OSError:
                break
            if not chunk:
                break
            got.extend(chunk)
        done.set()

    threads = [threading.Thread(target=trickle, daemon=True),
               threading.Thread(target=reader, daemon=True)]
    for th in threads:
        th.start()
    try:
        t.wait_for(lambda: got.startswith(b"220"), what="the banner")
        # meanwhile a normal client is served
        t.send(SENDER, [HEALTHY], make_message(to=HEALTHY))
        t.wait_messages(sink, 1, rcpt=HEALTHY)
        # the trickle takes 100 s; the timeout ends it long before
        t.wait_for(done.is_set, timeout=40,
                   what="smtpd to close the trickling connection")
        assert b"421 4.4.2" in got, bytes(got)
        assert b"250" not in got[3:], bytes(got)
    finally:
        done.set()
        slow.close()
        for th in threads:
            th.join(5)
