"""deliverd: stopping Tern while deliveries and DNS lookups are under
way ends promptly (the mail stays queued for the next start)."""

import socket
import threading
import time

import pytest

from conftest import make_message

SENDER = "sender@client.test"


class Staller:
    """A TCP server on 127.0.0.1 that holds every connection in flight:
    it says nothing at all, or (busy=True) takes a message up to the
    final dot and never answers that."""

    def __init__(self, busy=False):
        self.busy = busy
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        self.eom = False
        self._t = threading.Thread(target=self._accept, daemon=True)
        self._t.start()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(c)
            if self.busy:
                threading.Thread(target=self._talk, args=(c,),
                                 daemon=True).start()

    def _talk(self, c):
        f = c.makefile("rb")
        try:
            c.sendall(b"220 staller ESMTP\r\n")
            while True:
                line = f.readline()
                if not line:
                    return
                if line.upper().startswith(b"EHLO"):
                    c.sendall(b"250-staller\r\n250 8BITMIME\r\n")
                elif line.upper().startswith(b"DATA"):
                    c.sendall(b"354 go on\r\n")
                    while f.readline() not in (b".\r\n", b""):
                        pass
                    self.eom = True
                    f.read()        # until Tern closes: no reply
                    return
                else:
                    c.sendall(b"250 ok\r\n")
        except OSError:
            return

    def close(self):
        self.sock.close()
        for c in self.conns:
            c.close()


@pytest.mark.parametrize("busy", [False, True])
def test_stop_with_connections_and_dns_in_flight(make_tern, catchall,
                                                  dns_zone, busy):
    """A receiver that never greets (or never answers the final dot)
    holds a connection, and a name server that never answers holds an MX
    lookup: SIGTERM still stops Tern (every daemon) well within the time
    systemd gives it.  A transaction waiting for its final reply gets
    deliverd's stop grace (5 s) to avoid a duplicate; nothing else
    waits."""
    dns = dns_zone({"slowdns.test": "TIMEOUT"})
    st = Staller(busy)
    try:
        t = make_tern(default_route=None,
                      routes={"client.test": catchall,
                              "stall.test": f"127.0.0.1:{st.port}"},
                      extra=f"name-server {dns.addr}\n"
                            "dns-timeout 120s\nconnect-timeout 5m\n"
                            "smtp-greeting-timeout 5m\n")
        t.send(SENDER, ["a@stall.test"], make_message(to="a@stall.test"))
        t.send(SENDER, ["a@slowdns.test"],
               make_message(to="a@slowdns.test"))
        t.wait_for(lambda: st.conns, what="a connection to the staller")
        if busy:
            t.wait_for(lambda: st.eom, what="the message sent")
        t.wait_for(lambda: dns.count("slowdns.test", "MX") > 0,
                   what="the MX lookup under way")
        start = time.monotonic()
        rc = t.stop(timeout=30)
        took = time.monotonic() - start
        assert rc == 0
        assert took < 10, f"stop took {took:.1f}s\n{t.log_tail()}"
        if not busy:
            # Nothing to wait for: deliverd ends when its results are
            # in, not when its stop grace runs out (it used to wait for
            # an ACK from a queued that had exited: common/mproc.c).
            assert "unfinished or unacknowledged" not in t.log_text()
    finally:
        st.close()
