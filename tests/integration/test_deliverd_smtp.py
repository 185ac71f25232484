"""deliverd: the SMTP client's per-phase timeouts, pipelining depth and
8-bit handling, against scripted receivers that misbehave on purpose.
"""

import socket
import threading

from conftest import LOOPBACK, free_port, make_message

SENDER = "sender@client.test"


class Scripted:
    """A receiver on 127.0.0.1 that speaks just enough SMTP, then stops
    answering at one point ("greeting": never greets; "eom": takes the
    message and never answers the final dot).  `ehlo` lists the
    extensions it announces.  `commands` has every line it got."""

    def __init__(self, stall: str, ehlo=("PIPELINING",)):
        self.stall = stall
        self.ehlo = list(ehlo)
        self.port = free_port()
        self.commands = []
        self.bodies = []
        self.batches = []       # commands that arrived in one read
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((LOOPBACK, self.port))
        self._sock.listen(16)
        self._conns = []
        self._stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def addr(self):
        return f"{LOOPBACK}:{self.port}"

    def close(self):
        self._stop = True
        self._sock.close()
        for c in self._conns:
            try:
                c.close()
            except OSError:
                pass

    def _accept(self):
        while not self._stop:
            try:
                c, _ = self._sock.accept()
            except OSError:
                return
            self._conns.append(c)
            threading.Thread(target=self._serve, args=(c,),
                             daemon=True).start()

    def _serve(self, c):
        try:
            self._dialogue(c)
        except OSError:
            pass

    def _dialogue(self, c):
        if self.stall == "greeting":
            while c.recv(4096):
                pass
            return
        c.sendall(b"220 scripted ESMTP\r\n")
        buf = b""
        in_data = False
        body = b""
        while True:
            data = c.recv(65536)
            if not data:
                return
            buf += data
            batch = []
            while b"\r\n" in buf:
                line, buf = buf.split(b"\r\n", 1)
                if in_data:
                    if line == b".":
                        in_data = False
                        self.bodies.append(body)
                        if self.stall == "eom":
                            continue
                        c.sendall(b"250 2.0.0 ok\r\n")
                    else:
                        body += line + b"\r\n"
                    continue
                cmd = line.decode("latin-1")
                self.commands.append(cmd)
                batch.append(cmd)
                verb = cmd.split(" ")[0].upper()
                if verb == "EHLO":
                    exts = ["scripted"] + self.ehlo
                    c.sendall("".join(
                        f"250{'-' if i < len(exts) - 1 else ' '}{e}\r\n"
                        for i, e in enumerate(exts)).encode())
                elif verb == "DATA":
                    in_data = True
                    body = b""
                    c.sendall(b"354 go ahead\r\n")
                elif verb == "QUIT":
                    c.sendall(b"221 bye\r\n")
                    return
                else:
                    c.sendall(b"250 ok\r\n")
            if batch:
                self.batches.append(batch)


def test_smtp_greeting_timeout(make_tern):
    """smtp-greeting-timeout 2s: a receiver that accepts the connection
    and never greets costs a t row after about 2 s (not the default 5
    minutes), with a timeout in the diagnostic."""
    srv = Scripted("greeting")
    try:
        t = make_tern(routes={"example.test": srv.addr},
                      domain_settings={"example.test":
                                       "smtp-greeting-timeout 2s\n"
                                       "retry-after 1h"})
        t.send(SENDER, ["a@example.test"], make_message())
        row = t.wait_acct("t", "a@example.test", timeout=30)[0]
        assert "timeout" in row["dsnDiag"]
        assert "greeting" in row["dsnDiag"]
    finally:
        srv.close()


def test_smtp_data_termination_timeout(make_tern):
    """smtp-data-termination-timeout 2s: no reply to the final dot gives
    a t row saying the message may have been delivered."""
    srv = Scripted("eom")
    try:
        t = make_tern(routes={"example.test": srv.addr},
                      domain_settings={"example.test":
                                       "smtp-data-termination-timeout 2s\n"
                                       "retry-after 1h"})
        t.send(SENDER, ["a@example.test"], make_message())
        row = t.wait_acct("t", "a@example.test", timeout=30)[0]
        assert "may have been delivered" in row["dsnDiag"]
        assert len(srv.bodies) == 1
    finally:
        srv.close()


def _send_many(t, n):
    t.send(SENDER, [f"r{i}@example.test" for i in range(n)], make_message())
    t.wait_for(lambda: len(t.acct_rows("d")) >= n, what=f"{n} d rows")


def test_smtp_pipeline_depth(make_tern):
    """smtp-pipeline-depth 3 (the seeds' directive): MAIL, six RCPTs and
    DATA never arrive more than three at a time, and all six
    recipients are delivered in one transaction."""
    srv = Scripted("none")
    try:
        t = make_tern(routes={"example.test": srv.addr},
                      domain_settings={"example.test":
                                       "smtp-pipeline-depth 3"})
        _send_many(t, 6)
        assert max(len(b) for b in srv.batches) <= 3, srv.batches
        assert len(srv.bodies) == 1
        assert sum(c.startswith("RCPT") for c in srv.commands) == 6
    finally:
        srv.close()


def test_pipelining_without_depth_sends_all_at_once(make_tern):
    """Without a depth the whole transaction goes in one write (so the
    depth test above does observe a limit)."""
    srv = Scripted("none")
    try:
        t = make_tern(routes={"example.test": srv.addr})
        _send_many(t, 6)
        assert max(len(b) for b in srv.batches) == 8, srv.batches
    finally:
        srv.close()


def test_ignore_pipelining(make_tern):
    """ignore-pipelining yes: one command at a time although the
    receiver offers PIPELINING."""
    srv = Scripted("none")
    try:
        t = make_tern(routes={"example.test": srv.addr},
                      domain_settings={"example.test":
                                       "ignore-pipelining yes"})
        _send_many(t, 3)
        assert all(len(b) == 1 for b in srv.batches), srv.batches
    finally:
        srv.close()


# --- 8-bit content (RFC 6152) ---

def test_8bit_to_receiver_without_8bitmime_bounces(make_tern):
    """A message with 8-bit bytes and a receiver that does not offer
    8BITMIME: a b row with 5.6.3, no DATA sent; a 7-bit message declared
    BODY=8BITMIME goes through, without the BODY parameter."""
    srv = Scripted("none", ehlo=("PIPELINING",))
    try:
        t = make_tern(routes={"example.test": srv.addr})
        t.send(SENDER, ["eight@example.test"],
               make_message(body="Caf\u00e9 cr\u00e8me.\n"),
               mail_options=("BODY=8BITMIME",))
        row = t.wait_acct("b", "eight@example.test")[0]
        assert row["dsnStatus"].startswith("5.6.3")
        assert "8BITMIME" in row["dsnDiag"]
        assert srv.bodies == []
        t.send(SENDER, ["seven@example.test"], make_message(),
               mail_options=("BODY=8BITMIME",))
        t.wait_acct("d", "seven@example.test")
        mails = [c for c in srv.commands if c.startswith("MAIL")]
        assert mails and "BODY=" not in mails[-1]
    finally:
        srv.close()


def test_8bit_with_8bitmime_and_ignore_8bitmime(make_tern, sink):
    """A receiver offering 8BITMIME gets the 8-bit message with
    BODY=8BITMIME; with ignore-8bitmime yes the same message bounces
    (5.6.3) instead."""
    t = make_tern(routes={"example.test": sink, "ign.test": sink},
                  domain_settings={"ign.test": "ignore-8bitmime yes"})
    body = make_message(body="Caf\u00e9.\n")
    t.send(SENDER, ["a@example.test"], body, mail_options=("BODY=8BITMIME",))
    m = t.wait_messages(sink, 1, rcpt="a@example.test")[0]
    assert "BODY=8BITMIME" in [o.upper() for o in m.mail_options]
    assert "Caf\u00e9".encode() in m.data
    t.send(SENDER, ["b@ign.test"], body, mail_options=("BODY=8BITMIME",))
    assert t.wait_acct("b", "b@ign.test")[0]["dsnStatus"].startswith("5.6.3")
