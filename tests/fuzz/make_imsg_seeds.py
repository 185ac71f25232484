#!/usr/bin/env python3
"""Write the seed corpus of fuzz_imsg (tests/fuzz/corpus/imsg/): byte
streams of imsgs as the daemons write them (common/mproc.c's encoding:
a tag byte per field; u32/u64/i64 in host order; a string as its length
with the NUL, then the bytes and the NUL; NULL as one tag byte).  The
type of each message picks the reader in fuzz_imsg.c (type % 6)."""
import struct
import sys
from pathlib import Path

M_U32, M_U64, M_I64, M_STR, M_NULLSTR = 1, 2, 3, 4, 5
CFG_BEGIN, CFG_NODE, CFG_END, ENVELOPE, RESULT, ACCT = range(6)


def u32(v): return bytes([M_U32]) + struct.pack("=I", v)
def u64(v): return bytes([M_U64]) + struct.pack("=Q", v)
def i64(v): return bytes([M_I64]) + struct.pack("=q", v)


def s(v):
    if v is None:
        return bytes([M_NULLSTR])
    b = v.encode() + b"\0"
    return bytes([M_STR]) + struct.pack("=I", len(b)) + b


def imsg(type_, payload=b""):
    return struct.pack("=IIII", type_, 16 + len(payload), 0, 4242) + payload


def envelope(nrcpt=2):
    p = s("abcdefgh0123") + s("sender@client.test") + s("client.test")
    p += s("127.0.0.1") + s("vmta1") + s("job-7") + s(None) + s("alice")
    p += u32(1) + u32(0) + i64(1700000000) + u64(1234) + u32(nrcpt)
    for i in range(nrcpt):
        p += s(f"r{i}@example.test") + s(f"rfc822;r{i}@example.test")
        p += u32(6) + u32(i)
    return p


def result():
    return (s("abcdefgh0123") + u32(0) + u32(1) + u32(0) + s("2.0.0")
            + s("smtp;250 ok") + s("mx.example.test (127.0.0.2)")
            + s("127.0.0.1") + s("127.0.0.2") + s("PIPELINING,SIZE")
            + s("TLSv1.3") + s("TLS_AES_256_GCM_SHA384") + u64(999))


def acct():
    p = u64(17)
    for v in ("d", "abcdefgh0123", "a@client.test", "b@example.test", None,
              "relayed", "2.0.0 (success)", "smtp;250 ok", "mx.test",
              "smtp", "client.test (127.0.0.1)", "smtp", "127.0.0.1",
              "127.0.0.2", "SIZE", "vmta1", "job", None, "example.test/vmta1",
              None, None, "alice"):
        p += s(v)
    return p + i64(1700000001) + i64(1700000000) + u64(512)


def cfg_tree():
    out = imsg(CFG_BEGIN, u32(3) + s("/etc/tern/tern.conf"))
    nodes = [(1, "host-name", "host-name", ["tern.test"]),
             (1, "domain", "<domain", ["example.test"]),
             (2, "max-smtp-out", "max-smtp-out", ["20"]),
             (2, "retry-after", "retry-after", ["10m", "20m"]),
             (1, "smtp-listener", "smtp-listener", ["127.0.0.1:2525"])]
    for depth, name, written, argv in nodes:
        p = u32(depth) + s(name) + s(written) + s("tern.conf") + u32(7)
        p += u32(len(argv)) + b"".join(s(a) for a in argv)
        out += imsg(CFG_NODE, p)
    return out + imsg(CFG_END)


def main(dest):
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    seeds = {
        "cfg_tree": cfg_tree(),
        "envelope": imsg(ENVELOPE, envelope()),
        "envelope_job": imsg(ENVELOPE, envelope(1) + s("example.test/vmta1")
                             + s("example.test")),
        "envelope_norcpt": imsg(ENVELOPE, envelope(0)),
        "result": imsg(RESULT, result()),
        "acct": imsg(ACCT, acct()),
        "mixed": imsg(RESULT, result()) + imsg(ACCT, acct())
        + imsg(ENVELOPE, envelope(3)),
        "truncated": imsg(ENVELOPE, envelope())[:-9],
        "fd_flag": struct.pack("=IIII", ENVELOPE, 0x80000010, 0, 1),
    }
    for name, data in seeds.items():
        (dest / name).write_bytes(data)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else
         Path(__file__).parent / "corpus" / "imsg")
