"""deliverd: CHUNKING (RFC 3030) outbound.

When the receiving server offers CHUNKING and PIPELINING, deliverd sends
the message as BDAT chunks right behind MAIL and RCPT, with no dot
doubled and no 354 to wait for; ignore-chunking (PowerMTA's name) or a
server that does not offer it gives DATA.  The receiving server here is
a second Tern, whose smtpd implements BDAT, relaying to an aiosmtpd sink;
between the two a plain TCP relay records what the sending Tern wrote,
so that the tests see BDAT or DATA on the wire.
"""

import asyncio
import threading

import pytest

from conftest import make_message, wait_for
from test_deliverd_dkim import dkim_keys, verify  # noqa: F401 (fixture)

SENDER = "sender@client.test"


class Recorder:
    """A TCP relay on 127.0.0.1 to a server, keeping the client's bytes;
    it connects from `source`."""

    def __init__(self, port: int, source: str = "127.0.0.1"):
        self.target = port
        self.source = source
        self.data = bytearray()
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        self.ready.wait(10)

    def _run(self):
        asyncio.set_event_loop(self.loop)
        self.server = self.loop.run_until_complete(asyncio.start_server(
            self._conn, "127.0.0.1", 0))
        self.port = self.server.sockets[0].getsockname()[1]
        self.ready.set()
        self.loop.run_forever()

    async def _pipe(self, r, w, keep):
        try:
            while (chunk := await r.read(65536)):
                if keep:
                    self.data += chunk
                w.write(chunk)
                await w.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            w.close()

    async def _conn(self, cr, cw):
        sr, sw = await asyncio.open_connection(
            "127.0.0.1", self.target, local_addr=(self.source, 0))
        await asyncio.gather(self._pipe(cr, sw, True),
                             self._pipe(sr, cw, False))

    async def _shutdown(self):
        self.server.close()
        tasks = [t for t in asyncio.all_tasks()
                 if t is not asyncio.current_task()]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def close(self):
        asyncio.run_coroutine_threadsafe(self._shutdown(),
                                         self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


@pytest.fixture
def relay(make_tern, sink):
    """Tern "b" (CHUNKING offered by its smtpd) delivering example.test
    and other.test to the sink; it relays for 127.0.0.1 only, and for
    the others to example.test (relay-domain) alone.  The recorder sits
    in front of it, connecting from 127.0.0.2."""
    b = make_tern("b", routes={"example.test": sink, "other.test": sink},
                  extra="relay-domain example.test\n")
    rec = Recorder(b.smtp_port, source="127.0.0.2")
    yield b, rec
    rec.close()


def sender(make_tern, rec, **kw):
    """Tern "a" sending example.test and other.test through the recorder
    (which connects to b from 127.0.0.2: not a relay client of b)."""
    return make_tern("a", routes={"example.test": rec.port,
                                  "other.test": rec.port}, **kw)


BODY = ".a line that starts with a dot\n..two dots\nend\n"


def test_bdat_when_offered(make_tern, sink, relay):
    b, rec = relay
    a = sender(make_tern, rec)
    a.send(SENDER, ["r1@example.test"], make_message(body=BODY,
                                                       to="r1@example.test"))
    msg = a.wait_messages(sink, 1, rcpt="r1@example.test")[0]
    wire = bytes(rec.data)
    assert b"\r\nBDAT " in wire and b" LAST\r\n" in wire, wire[:600]
    assert b"\r\nDATA\r\n" not in wire
    # nothing doubled on the wire, the text arrives as it was sent
    assert b"\r\n..a line" not in wire
    assert b"\r\n.a line that starts with a dot\r\n..two dots\r\nend\r\n" \
        in msg.data
    # MAIL, RCPT and the one chunk went out together
    i = wire.index(b"MAIL FROM:")
    assert wire.index(b"BDAT ", i) - i < 300
    row = a.acct_rows("d")[0]
    assert row["rcpt"] == "r1@example.test"


def test_large_message_in_several_chunks(make_tern, sink, relay):
    b, rec = relay
    a = sender(make_tern, rec)
    body = "".join(f"line {i:06d} " + "x" * 60 + "\n" for i in range(4000))
    a.send(SENDER, ["big@example.test"], make_message(body=body,
                                                        to="big@example.test"))
    msg = a.wait_messages(sink, 1, rcpt="big@example.test", timeout=30)[0]
    wire = bytes(rec.data)
    assert wire.count(b"BDAT ") >= 4, wire.count(b"BDAT ")
    assert wire.count(b" LAST\r\n") == 1
    text = msg.data.replace(b"\r\n", b"\n")
    assert body.encode() in text


def test_refused_recipients_with_bdat(make_tern, sink, relay):
    """b refuses other.test at RCPT (not a relay client, not a relay
    domain).  With one good recipient the chunk delivers to it and the
    other bounces; with no good recipient b refuses the chunk, the
    recipient bounces with b's RCPT reply, and the connection stays
    usable: the next message goes through."""
    b, rec = relay
    a = sender(make_tern, rec)
    a.send(SENDER, ["ok@example.test", "no@other.test"],
           make_message(to="ok@example.test"))
    a.wait_messages(sink, 1, rcpt="ok@example.test")
    a.wait_acct("b", "no@other.test")
    a.send(SENDER, ["no2@other.test"], make_message(to="no2@other.test"))
    rows = a.wait_acct("b", "no2@other.test")
    assert "relaying denied" in rows[0]["dsnDiag"], rows[0]
    a.send(SENDER, ["after@example.test"], make_message(to="after@example.test"))
    a.wait_messages(sink, 1, rcpt="after@example.test")
    assert not sink.messages_for("no@other.test")
    assert not sink.messages_for("no2@other.test")
    wire = bytes(rec.data)
    assert b"\r\nDATA\r\n" not in wire
    a.check_alive()


def test_ignore_chunking_sends_data(make_tern, sink, relay):
    b, rec = relay
    a = sender(make_tern, rec, domain_settings={
        "example.test": "ignore-chunking yes"})
    a.send(SENDER, ["d@example.test"], make_message(body=BODY,
                                                      to="d@example.test"))
    msg = a.wait_messages(sink, 1, rcpt="d@example.test")[0]
    wire = bytes(rec.data)
    assert b"\r\nDATA\r\n" in wire and b"BDAT" not in wire
    assert b"\r\n..a line that starts with a dot\r\n" in wire
    assert b"\r\n.a line that starts with a dot\r\n" in msg.data


def test_no_chunking_offered_sends_data(make_tern, sink):
    """The aiosmtpd sink offers no CHUNKING: DATA, as before."""
    rec = Recorder(int(sink.addr.rsplit(":", 1)[1]))
    try:
        a = make_tern("a", routes={"example.test": rec.port})
        a.send(SENDER, ["s@example.test"], make_message(to="s@example.test"))
        a.wait_messages(sink, 1, rcpt="s@example.test")
        wait_for(lambda: b"\r\nDATA\r\n" in bytes(rec.data), timeout=10,
                 what="DATA on the wire")
        assert b"BDAT" not in bytes(rec.data)
    finally:
        rec.close()


def test_dkim_signature_in_the_first_chunk(make_tern, sink, relay, dkim_keys):
    """The signature opens the first chunk; dkimpy verifies the message
    the sink got (b's Received header on top is not signed)."""
    b, rec = relay
    keydir, dns = dkim_keys
    a = sender(make_tern, rec,
               domain_settings={"example.test": "dkim-sign yes"},
               extra=f"domain-key rsa1,client.test,{keydir}/rsa.pem\n")
    a.send(SENDER, ["k@example.test"],
           make_message(body=BODY, to="k@example.test",
                        headers=("MIME-Version: 1.0",)))
    data = a.wait_messages(sink, 1, rcpt="k@example.test")[0].data
    assert b"BDAT " in bytes(rec.data)
    assert b"\r\nDKIM-Signature:" in data or data.startswith(b"DKIM")
    assert verify(data, dns)
