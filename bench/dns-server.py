#!/usr/bin/python3
"""bench/dns-server.py - authoritative DNS server for bench/scale-domains.sh.

    dns-server.py ADDR PORT

Answers, over UDP and TCP, for a synthetic zone of any number of recipient
domains (dnslib from Debian, python3-dnslib):

    dN.bench.test.      MX 10 mx.dN.bench.test.
    mx.dN.bench.test.   A  127.1.X.Y     (N spread over 127.1.0.1-127.1.255.250)

Every other name is NXDOMAIN.  TTL one hour, so a deliverd asks once per
domain and host.  Counts queries and prints the count on SIGTERM.
"""
import re
import signal
import socket
import socketserver
import sys
import threading

from dnslib import A, MX, QTYPE, RCODE, RR, DNSRecord

DOMAIN = re.compile(r"^(mx\.)?d(\d+)\.bench\.test\.?$", re.I)
queries = 0


def answer(data):
    global queries
    queries += 1
    req = DNSRecord.parse(data)
    rep = req.reply()
    q = req.q
    name = str(q.qname)
    m = DOMAIN.match(name)
    if m is None:
        rep.header.rcode = RCODE.NXDOMAIN
        return rep.pack()
    n = int(m.group(2))
    if m.group(1) is None and q.qtype == QTYPE.MX:
        rep.add_answer(RR(name, QTYPE.MX, ttl=3600,
                          rdata=MX(f"mx.d{n}.bench.test.", 10)))
    elif m.group(1) is not None and q.qtype == QTYPE.A:
        ip = f"127.1.{(n // 250) % 256}.{n % 250 + 1}"
        rep.add_answer(RR(name, QTYPE.A, ttl=3600, rdata=A(ip)))
    return rep.pack()   # other types: NOERROR, no data


class Udp(socketserver.BaseRequestHandler):
    def handle(self):
        data, sock = self.request
        sock.sendto(answer(data), self.client_address)


class Tcp(socketserver.StreamRequestHandler):
    def handle(self):
        ln = self.rfile.read(2)
        if len(ln) == 2:
            rep = answer(self.rfile.read(int.from_bytes(ln, "big")))
            self.wfile.write(len(rep).to_bytes(2, "big") + rep)


def main():
    addr, port = sys.argv[1], int(sys.argv[2])
    socketserver.UDPServer.allow_reuse_address = True
    socketserver.TCPServer.allow_reuse_address = True
    udp = socketserver.UDPServer((addr, port), Udp)
    tcp = socketserver.ThreadingTCPServer((addr, port), Tcp)
    threading.Thread(target=tcp.serve_forever, daemon=True).start()

    def stop(*_):
        print(f"queries={queries}", flush=True)
        sys.exit(0)
    signal.signal(signal.SIGTERM, stop)
    udp.serve_forever()


if __name__ == "__main__":
    main()
