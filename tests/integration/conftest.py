"""Fixtures for Tern's integration tests.

The tests start the real suite (``ternd -d -f CONF``, which starts smtpd,
queued, deliverd, bounced and mgmtd from the same build tree) on a config
written into the test's tmp_path, with free ports on 127.0.0.1 only, and
drive it with real SMTP clients (smtplib, swaks).  Mail leaves Tern for
``Sink`` servers (aiosmtpd) on 127.0.0.1 that record what they receive and
can be told to refuse.

Environment:
  TERN_BUILD          build directory, relative to the repo root or absolute
                      (default: build).  build-asan selects the sanitizer build.
  TERN_TIMEOUT_SCALE  multiply every wait (default 1, 3 for a build dir whose
                      name contains "asan").
  TERN_VERBOSE=1      start ternd with -v.
"""

import contextlib
import csv
import io
import json
import os
import re
import signal
import smtplib
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as AioSMTP

REPO = Path(__file__).resolve().parents[2]
LOOPBACK = "127.0.0.1"

_build_env = os.environ.get("TERN_BUILD", "build")
TIME_SCALE = float(os.environ.get("TERN_TIMEOUT_SCALE") or
                   (3.0 if "asan" in Path(_build_env).name else 1.0))

# What a sanitizer prints: any of these in the daemons' stderr fails the test.
SANITIZER_MARKERS = (
    "ERROR: AddressSanitizer",
    "runtime error:",
    "LeakSanitizer",
    "UndefinedBehaviorSanitizer",
)

# Accounting columns of d/b/t records with the default `record-fields *`
# (PowerMTA v5, reference section 4.3).
ACCT_DBT_FIELDS = (
    "type", "timeLogged", "timeQueued", "orig", "rcpt", "orcpt",
    "dsnAction", "dsnStatus", "dsnDiag", "dsnMta", "bounceCat", "srcType",
    "srcMta", "dlvType", "dlvSourceIp", "dlvDestinationIp",
    "dlvEsmtpAvailable", "dlvSize", "vmta", "jobId", "envId", "queue",
)


def scaled(seconds: float) -> float:
    return seconds * TIME_SCALE


_port_next = None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now.

    Ports come from 20000-31999, below Linux's ephemeral range
    (32768-60999): a port the kernel hands out with bind(0) can be taken
    a moment later as the local port of some outgoing connection (deliverd
    makes many) before ternd binds it.  Each pytest-xdist worker walks its
    own slice, so parallel workers never pick the same port."""
    global _port_next
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    try:
        w = int(worker.lstrip("gw"))
    except ValueError:
        w = 0
    lo = 20000 + (w % 6) * 2000
    if _port_next is None:
        _port_next = lo + (os.getpid() * 7) % 2000
    for _ in range(2000):
        port = lo + (_port_next - lo) % 2000
        _port_next = port + 1
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind((LOOPBACK, port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in this worker's range")


def wait_for(predicate: Callable[[], object], timeout: float = 20,
             interval: float = 0.1, what: str = "condition",
             check: Optional[Callable[[], None]] = None):
    """Poll predicate() until it returns something truthy, and return it.

    timeout is scaled by TERN_TIMEOUT_SCALE.  check(), if given, runs on
    every round and may raise to give up early (e.g. ternd has exited).
    """
    deadline = time.monotonic() + scaled(timeout)
    while True:
        if check is not None:
            check()
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(
                f"timed out after {scaled(timeout):.0f}s waiting for {what}")
        time.sleep(interval)


@dataclass
class SpoolRecord:
    """A message record in one of the spool's segments (docs/spool.md)."""
    qid: str
    path: Path
    offset: int
    length: int
    body: bytes
    whole: bool      # header, lengths and trailer in place


REC_MAGIC = b"#TERN-REC2 "
REC_HDR = 59
REC_END = 29


def spool_records(spool: Path) -> list:
    """Every record in spool/queue/data/*, read the way docs/spool.md
    describes the format (the hash is queued's to check)."""
    out = []
    for seg in sorted((spool / "queue" / "data").glob("*")):
        try:
            data = seg.read_bytes()
        except OSError:
            continue
        off = 0
        while data[off:off + len(REC_MAGIC)] == REC_MAGIC:
            f = data[off + len(REC_MAGIC):off + REC_HDR].split()
            if len(f) != 4:
                break
            qid, size, envlen = f[0].decode(), int(f[1], 16), int(f[2], 16)
            length = REC_HDR + size + envlen + REC_END
            end = data[off + length - REC_END:off + length]
            out.append(SpoolRecord(qid, seg, off, length,
                                   data[off + REC_HDR:off + REC_HDR + size],
                                   end.startswith(b"\n#TERN-END2 ")))
            off += length
    return out


def make_message(subject: str = "test", body: str = "Hello.\n",
                 mail_from: str = "sender@client.test",
                 to: str = "rcpt@example.test",
                 headers: tuple = ()) -> bytes:
    """An RFC 5322 message as bytes with CRLF line ends (UTF-8 body)."""
    lines = [
        f"From: <{mail_from}>",
        f"To: <{to}>",
        f"Subject: {subject}",
        "Date: Mon, 01 Jan 2024 00:00:00 +0000",
        f"Message-ID: <{time.time_ns()}.{os.getpid()}@client.test>",
        *headers,
        "",
    ]
    text = "\n".join(lines) + "\n" + body
    if not text.endswith("\n"):
        text += "\n"
    return text.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8")


# ---------------------------------------------------------------- the sink

@dataclass
class Received:
    """One message accepted by a Sink."""
    mail_from: str
    rcpt_tos: list
    data: bytes             # as received, dot-unstuffed, CRLF line ends
    peer: tuple
    conn: int               # the sink's connection number (1, 2, ...)
    helo: Optional[str]
    mail_options: list
    rcpt_options: list
    when: float = field(default_factory=time.time)


@dataclass
class Rule:
    """Answer `stage` (MAIL, RCPT or DATA) with `reply` for the next `count`
    matching commands (None = for ever).  `match`: only for this address
    (RCPT: the recipient; MAIL: the sender; DATA: any recipient of the
    transaction), case-insensitive; None = any."""
    stage: str
    reply: str
    count: Optional[int] = 1
    match: Optional[str] = None
    used: int = 0


@dataclass
class Event:
    """One MAIL/RCPT/DATA command seen by the sink and its answer."""
    conn: int
    stage: str
    arg: str
    reply: str
    when: float = field(default_factory=time.time)


class _SinkSMTP(AioSMTP):
    """aiosmtpd's SMTP session that tells the Sink about connections."""

    def __init__(self, handler, sink, **kwargs):
        super().__init__(handler, **kwargs)
        self._sink = sink
        self.sink_conn = None

    def connection_made(self, transport):
        self.sink_conn = self._sink._conn_open()
        super().connection_made(transport)

    def connection_lost(self, error):
        super().connection_lost(error)
        self._sink._conn_close(self.sink_conn)


class _SinkController(Controller):
    def __init__(self, sink, *args, **kwargs):
        self._sink = sink
        super().__init__(*args, **kwargs)

    def factory(self):
        return _SinkSMTP(self.handler, self._sink, **self.SMTP_kwargs)


class _SinkHandler:
    def __init__(self, sink):
        self.sink = sink

    async def handle_MAIL(self, server, session, envelope, address, options):
        reply = self.sink._apply("MAIL", server.sink_conn, address, [address])
        if reply is None:
            envelope.mail_from = address
            envelope.mail_options.extend(options)
            reply = "250 2.1.0 OK"
            self.sink._event(server.sink_conn, "MAIL", address, reply)
        return reply

    async def handle_RCPT(self, server, session, envelope, address, options):
        reply = self.sink._apply("RCPT", server.sink_conn, address, [address])
        if reply is None:
            envelope.rcpt_tos.append(address)
            envelope.rcpt_options.extend(options)
            reply = "250 2.1.5 OK"
            self.sink._event(server.sink_conn, "RCPT", address, reply)
        return reply

    async def handle_DATA(self, server, session, envelope):
        rcpts = ",".join(envelope.rcpt_tos)
        reply = self.sink._apply("DATA", server.sink_conn, rcpts,
                                 list(envelope.rcpt_tos))
        if reply is not None:
            return reply
        n = self.sink._store(Received(
            mail_from=envelope.mail_from,
            rcpt_tos=list(envelope.rcpt_tos),
            data=bytes(envelope.original_content),
            peer=tuple(session.peer) if session.peer else (),
            conn=server.sink_conn,
            helo=session.host_name,
            mail_options=list(envelope.mail_options),
            rcpt_options=list(envelope.rcpt_options),
        ))
        reply = f"250 2.0.0 Ok: queued as SINK{n}"
        self.sink._event(server.sink_conn, "DATA", rcpts, reply)
        return reply


class Sink:
    """A receiving SMTP server on 127.0.0.1 that records everything.

        with Sink() as sink:                    # a free port
            sink.add_rule("RCPT", "550 5.1.1 no such user", count=1)
            ...
            sink.wait_for_messages(1)
            sink.messages[0].data
    """

    def __init__(self, port: Optional[int] = None, name: str = "sink"):
        self.name = name
        self.port = port or free_port()
        self._lock = threading.Lock()
        self._counting = False
        self._next_conn = 0
        self._messages: list = []
        self._events: list = []
        self._rules: list = []
        self._open: set = set()
        self.connections = 0        # connections since start()/reset()
        self.max_concurrent = 0
        self._controller = None

    # -- life

    def start(self) -> "Sink":
        self._controller = _SinkController(
            self, _SinkHandler(self), hostname=LOOPBACK, port=self.port,
            ready_timeout=scaled(10), server_hostname=f"{self.name}.test",
            enable_SMTPUTF8=True)
        self._controller.start()        # makes one probing connection
        with self._lock:
            self._counting = True
        return self

    def stop(self):
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def addr(self) -> str:
        return f"{LOOPBACK}:{self.port}"

    # -- behaviour

    def add_rule(self, stage: str, reply: str, count: Optional[int] = 1,
                 match: Optional[str] = None) -> Rule:
        stage = stage.upper()
        assert stage in ("MAIL", "RCPT", "DATA"), stage
        assert re.match(r"^[245]\d\d[ -]", reply), reply
        rule = Rule(stage, reply, count, match)
        with self._lock:
            self._rules.append(rule)
        return rule

    def clear_rules(self):
        with self._lock:
            self._rules.clear()

    def reset(self):
        """Forget messages, events, rules and connection counts."""
        with self._lock:
            self._messages.clear()
            self._events.clear()
            self._rules.clear()
            self.connections = len(self._open)
            self.max_concurrent = len(self._open)

    # -- observations

    @property
    def messages(self) -> list:
        with self._lock:
            return list(self._messages)

    @property
    def events(self) -> list:
        with self._lock:
            return list(self._events)

    @property
    def concurrent(self) -> int:
        with self._lock:
            return len(self._open)

    def messages_for(self, rcpt: str) -> list:
        rcpt = rcpt.lower()
        return [m for m in self.messages
                if rcpt in (r.lower() for r in m.rcpt_tos)]

    def attempts(self, stage: str, arg: Optional[str] = None) -> list:
        """Events for MAIL/RCPT/DATA (with that sender/recipient)."""
        stage = stage.upper()
        out = []
        for e in self.events:
            if e.stage != stage:
                continue
            if arg is not None and arg.lower() not in e.arg.lower().split(","):
                continue
            out.append(e)
        return out

    def wait_for_messages(self, n: int = 1, timeout: float = 20,
                          rcpt: Optional[str] = None, check=None) -> list:
        def enough():
            got = self.messages_for(rcpt) if rcpt else self.messages
            return got if len(got) >= n else None
        return wait_for(enough, timeout, what=f"{n} message(s) at "
                        f"{self.name} {self.addr}" + (f" for {rcpt}" if rcpt
                                                      else ""), check=check)

    # -- called from the aiosmtpd thread

    def _conn_open(self) -> Optional[int]:
        with self._lock:
            if not self._counting:
                return None     # the controller's own start-up probe
            self._next_conn += 1
            n = self._next_conn
            self._open.add(n)
            self.connections += 1
            self.max_concurrent = max(self.max_concurrent, len(self._open))
            return n

    def _conn_close(self, n):
        with self._lock:
            self._open.discard(n)

    def _event(self, conn, stage, arg, reply):
        with self._lock:
            self._events.append(Event(conn, stage, arg, reply))

    def _store(self, msg: Received) -> int:
        with self._lock:
            self._messages.append(msg)
            return len(self._messages)

    def _apply(self, stage, conn, arg, addrs) -> Optional[str]:
        """The reply of the first live rule for this command, or None."""
        with self._lock:
            for rule in self._rules:
                if rule.stage != stage:
                    continue
                if rule.count is not None and rule.used >= rule.count:
                    continue
                if rule.match is not None and rule.match.lower() not in \
                        (a.lower() for a in addrs):
                    continue
                rule.used += 1
                self._events.append(Event(conn, stage, arg, rule.reply))
                return rule.reply
        return None


# ---------------------------------------------------------------- Tern

def _route_of(target) -> str:
    if isinstance(target, Sink):
        return target.addr
    if isinstance(target, int):
        return f"{LOOPBACK}:{target}"
    return str(target)


def _proc_stat(pid: int):
    """(comm, state, ppid, pgrp) of a process, or None if gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read().decode(errors="replace")
    except OSError:
        return None
    lp, rp = raw.index("("), raw.rindex(")")
    comm = raw[lp + 1:rp]
    rest = raw[rp + 2:].split()
    return comm, rest[0], int(rest[1]), int(rest[2])


def _all_pids():
    for d in os.listdir("/proc"):
        if d.isdigit():
            yield int(d)


def _proc_name_matches(pid: int, name: str) -> bool:
    """Whether process pid runs the program `name` (exe, comm, argv[0])."""
    try:
        if os.path.basename(os.readlink(f"/proc/{pid}/exe")) == name:
            return True
    except OSError:
        pass
    st = _proc_stat(pid)
    if st and st[0] == name[:15]:
        return True
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv0 = f.read().split(b"\0")[0].decode(errors="replace")
    except OSError:
        return False
    argv0 = argv0.split()[0] if argv0.split() else ""
    return os.path.basename(argv0).rstrip(":") == name


class Tern:
    """One Tern suite on a config in its own directory.

        t = Tern(build, tmp_path / "tern", routes={"example.test": sink})
        t.start()
        t.send("a@client.test", ["b@example.test"], make_message())
        t.wait_for(lambda: t.acct_rows("d"))
        t.stop()
    """

    def __init__(self, build: Path, workdir: Path, routes: dict = None,
                 default_route=None, extra: str = "",
                 domain_settings: dict = None,
                 records: str = "d,b,t", retry_after: str = "2s",
                 deliverd_processes: int = 2, config_text: str = None,
                 conf_path: Path = None, smtp_port: int = None,
                 acct_path: Path = None, control_path: Path = None):
        self.build = Path(build)
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.ternd = self.build / "ternd" / "ternd"
        self.tern_cli = self.build / "cli" / "tern"
        self.routes = dict(routes or {})
        # domain -> extra lines for its <domain> block ("max-smtp-out 2")
        self.domain_settings = dict(domain_settings or {})
        self.default_route = default_route
        self.extra = extra
        self.records = records
        self.retry_after = retry_after
        self.deliverd_processes = deliverd_processes
        self.smtp_port = smtp_port or free_port()
        self.conf = Path(conf_path) if conf_path else self.dir / "tern.conf"
        self.spool = self.dir / "spool"
        self.acct = Path(acct_path) if acct_path else self.dir / "acct.csv"
        self.control = (Path(control_path) if control_path
                        else self.dir / "control.sock")
        self.log = self.dir / "ternd.log"
        self._config_text = config_text
        self.proc: Optional[subprocess.Popen] = None
        self.starts = 0
        self._seen: dict = {}       # pid -> comm of every daemon seen

    # -- config

    def config_text(self) -> str:
        if self._config_text is not None:
            return self._config_text
        out = [
            "# written by tests/integration/conftest.py",
            "host-name tern.test",
            f"smtp-listener {LOOPBACK}:{self.smtp_port}",
            f"<source {LOOPBACK}>",
            "    always-allow-relaying yes",
            "</source>",
            f"<spool {self.spool}>",
            "</spool>",
            f"<acct-file {self.acct}>",
            f"    records {self.records}",
            "</acct-file>",
            f"control-socket {self.control}",
            f"deliverd-processes {self.deliverd_processes}",
            "<domain *>",
        ]
        if self.default_route is not None:
            out.append(f"    route {_route_of(self.default_route)}")
        out += [
            f"    retry-after {self.retry_after}",
            "    bounce-after 1h",
            "</domain>",
        ]
        for domain in list(self.routes) + [
                d for d in self.domain_settings if d not in self.routes]:
            out.append(f"<domain {domain}>")
            if domain in self.routes:
                out.append(f"    route {_route_of(self.routes[domain])}")
            for line in self.domain_settings.get(domain, "").splitlines():
                if line.strip():
                    out.append(f"    {line.strip()}")
            out.append("</domain>")
        if self.extra:
            out.append(self.extra.rstrip("\n"))
        return "\n".join(out) + "\n"

    def write_config(self) -> Path:
        self.conf.parent.mkdir(parents=True, exist_ok=True)
        self.conf.write_text(self.config_text())
        return self.conf

    def set_route(self, domain: str, target):
        """Change a route; takes effect at the next start()."""
        self.routes[domain] = target

    # -- life

    def env(self) -> dict:
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=1")
        env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
        return env

    def start(self, wait: bool = True):
        assert self.proc is None or self.proc.poll() is not None, \
            "ternd already running"
        if not self.ternd.exists():
            pytest.fail(f"{self.ternd} not built (TERN_BUILD={_build_env})")
        if self._config_text is None or not self.conf.exists():
            self.write_config()
        self.starts += 1
        args = [str(self.ternd), "-d", "-f", str(self.conf)]
        if os.environ.get("TERN_VERBOSE") == "1":
            args.insert(1, "-v")
        with open(self.log, "ab") as log:
            log.write(f"==== start {self.starts}: {' '.join(args)}\n"
                      .encode())
            log.flush()
            self.proc = subprocess.Popen(
                args, cwd=self.dir, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, env=self.env(),
                start_new_session=True)
        if wait:
            self.wait_ready()
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def check_alive(self):
        """Raise (with the log's tail) if ternd has exited."""
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(
                f"ternd exited with status {self.proc.returncode}\n"
                f"--- {self.log} (tail) ---\n{self.log_tail()}")

    def wait_ready(self, timeout: float = 20):
        """Until the SMTP port answers with a 220 banner."""
        def banner():
            try:
                with socket.create_connection((LOOPBACK, self.smtp_port),
                                              timeout=2) as s:
                    s.settimeout(scaled(5))
                    data = b""
                    while b"\n" not in data:
                        chunk = s.recv(512)
                        if not chunk:
                            break
                        data += chunk
                    try:
                        s.sendall(b"QUIT\r\n")
                    except OSError:
                        pass
                    return data.startswith(b"220")
            except OSError:
                return False
        wait_for(banner, timeout, interval=0.1,
                 what=f"220 banner on {LOOPBACK}:{self.smtp_port}",
                 check=self.check_alive)

    def descendants(self) -> dict:
        """pid -> comm of every live process below ternd."""
        if not self.alive():
            return {}
        children: dict = {}
        stats = {}
        for pid in _all_pids():
            st = _proc_stat(pid)
            if st:
                stats[pid] = st
                children.setdefault(st[2], []).append(pid)
        out, todo = {}, [self.proc.pid]
        while todo:
            for c in children.get(todo.pop(), []):
                if stats[c][1] != "Z":
                    out[c] = stats[c][0]
                    todo.append(c)
        return out

    def child_pids(self, name: str) -> list:
        """Pids of ternd's children that run the daemon `name`."""
        if not self.alive():
            return []
        pids = []
        for pid in _all_pids():
            st = _proc_stat(pid)
            if st and st[2] == self.proc.pid and st[1] != "Z" and \
                    _proc_name_matches(pid, name):
                pids.append(pid)
                self._seen[pid] = st[0]
        return sorted(pids)

    def child_pid(self, name: str, timeout: float = 10) -> int:
        """The pid of ternd's one child `name` (waits for it to exist)."""
        pids = wait_for(lambda: self.child_pids(name), timeout,
                        what=f"a {name} process under ternd",
                        check=self.check_alive)
        assert len(pids) == 1, f"several {name} processes: {pids}"
        return pids[0]

    def stop(self, timeout: float = 10) -> int:
        """SIGTERM, then SIGKILL after `timeout`; returns the exit status.
        Fails if ternd needed SIGKILL or left daemons behind."""
        if self.proc is None:
            return 0
        if self.proc.poll() is not None:
            return self.proc.returncode
        before = self.descendants()
        self._seen.update(before)
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(scaled(timeout))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            self._kill_leftovers(before)
            raise AssertionError(
                f"ternd did not exit within {scaled(timeout):.0f}s of "
                f"SIGTERM\n--- log tail ---\n{self.log_tail()}")
        left = self._kill_leftovers(before)
        assert not left, (f"daemons still running after ternd exited: "
                          f"{left}\n--- log tail ---\n{self.log_tail()}")
        return rc

    def _kill_leftovers(self, procs: dict, grace: float = 5) -> dict:
        """Wait for these pids to go; SIGKILL and return those that stay."""
        def still():
            return {p: c for p, c in procs.items()
                    if (st := _proc_stat(p)) and st[0] == c and st[1] != "Z"}
        deadline = time.monotonic() + scaled(grace)
        left = still()
        while left and time.monotonic() < deadline:
            time.sleep(0.1)
            left = still()
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        return left

    def restart(self):
        rc = self.stop()
        assert rc == 0, f"ternd exited with {rc} on SIGTERM"
        self.start()

    # -- logs

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def sanitizer_reports(self) -> list:
        text = self.log_text()
        return [m for m in SANITIZER_MARKERS if m in text]

    # -- driving it

    def smtp(self, timeout: float = 30) -> smtplib.SMTP:
        s = smtplib.SMTP(LOOPBACK, self.smtp_port,
                         local_hostname="client.test",
                         timeout=scaled(timeout))
        s.ehlo()
        return s

    @staticmethod
    def send_on(s: smtplib.SMTP, mail_from: str, rcpts, msg,
                mail_options=(), rcpt_options=()) -> str:
        """One transaction on an open connection; returns the 250 text of
        DATA.  Raises smtplib's exceptions on any refusal."""
        if isinstance(rcpts, str):
            rcpts = [rcpts]
        if isinstance(msg, str):
            msg = msg.replace("\r\n", "\n").replace("\n", "\r\n") \
                .encode("utf-8")
        code, resp = s.mail(mail_from, list(mail_options))
        if code != 250:
            s.rset()
            raise smtplib.SMTPSenderRefused(code, resp, mail_from)
        for r in rcpts:
            code, resp = s.rcpt(r, list(rcpt_options))
            if code not in (250, 251):
                s.rset()
                raise smtplib.SMTPRecipientsRefused({r: (code, resp)})
        code, resp = s.data(msg)
        if code != 250:
            raise smtplib.SMTPDataError(code, resp)
        return resp.decode(errors="replace")

    def send(self, mail_from: str, rcpts, msg, mail_options=(),
             rcpt_options=()) -> str:
        """Inject one message over a new connection (see send_on)."""
        with self.smtp() as s:
            return self.send_on(s, mail_from, rcpts, msg, mail_options,
                                rcpt_options)

    def acct_files(self) -> list:
        """The accounting file, or the dated files derived from its name
        (PowerMTA writes acct.csv as acct-YYYY-MM-DD-NNNN.csv)."""
        stem, suffix = self.acct.stem, self.acct.suffix
        files = set(self.acct.parent.glob(f"{stem}-*{suffix}"))
        if self.acct.exists():
            files.add(self.acct)
        return sorted(files, key=lambda p: (p.stat().st_mtime, p.name))

    def acct_header(self) -> list:
        for f in self.acct_files():
            with open(f, newline="", encoding="utf-8") as fh:
                return next(csv.reader(fh), [])
        return []

    def acct_rows(self, type: Optional[str] = None,
                  rcpt: Optional[str] = None) -> list:
        """Rows of the accounting CSV(s) as dicts by header name, only
        complete lines; filtered by record type and recipient."""
        rows = []
        for f in self.acct_files():
            raw = f.read_bytes()
            cut = raw.rfind(b"\n")
            if cut < 0:
                continue
            text = raw[:cut + 1].decode("utf-8", errors="replace")
            for row in csv.DictReader(io.StringIO(text, newline="")):
                rows.append(row)
        if type is not None:
            rows = [r for r in rows if r.get("type") == type]
        if rcpt is not None:
            rows = [r for r in rows
                    if (r.get("rcpt") or "").lower() == rcpt.lower()]
        return rows

    def wait_for(self, predicate, timeout: float = 20, what: str = "condition",
                 interval: float = 0.1):
        """wait_for() that gives up at once if ternd exits."""
        try:
            return wait_for(predicate, timeout, interval, what,
                            check=self.check_alive)
        except AssertionError as e:
            raise AssertionError(
                f"{e}\n--- accounting rows ---\n{self.acct_rows()}\n"
                f"--- {self.log} (tail) ---\n{self.log_tail()}") from None

    def wait_acct(self, type: str, rcpt: str, n: int = 1,
                  timeout: float = 20) -> list:
        """Until the accounting file has n rows of this type for rcpt."""
        return self.wait_for(
            lambda: (r := self.acct_rows(type, rcpt)) and len(r) >= n and r,
            timeout, what=f"{n} '{type}' accounting row(s) for {rcpt}")

    def wait_messages(self, sink: "Sink", n: int = 1,
                      rcpt: Optional[str] = None,
                      timeout: float = 20) -> list:
        """Until `sink` has n messages (for rcpt); fails with ternd's log."""
        def enough():
            got = sink.messages_for(rcpt) if rcpt else sink.messages
            return got if len(got) >= n else None
        return self.wait_for(enough, timeout,
                             what=f"{n} message(s) at {sink.name} {sink.addr}"
                             + (f" for {rcpt}" if rcpt else ""))

    def cli(self, *args, conf: bool = True, timeout: float = 30):
        """Run the `tern` CLI (with -f CONF unless conf=False)."""
        argv = [str(self.tern_cli)]
        if conf:
            argv += ["-f", str(self.conf)]
        argv += [str(a) for a in args]
        return subprocess.run(argv, stdin=subprocess.DEVNULL,
                              capture_output=True, text=True,
                              timeout=scaled(timeout), env=self.env())

    @contextlib.contextmanager
    def held(self, *queues: str):
        """Queues paused while the block runs, resumed after it: what is
        sent meanwhile waits, so that deliveries start with a backlog
        (delivery is faster than one client sends)."""
        for q in queues:
            r = self.cli("pause", "queue", q)
            assert r.returncode == 0, r.stdout + r.stderr
        yield
        for q in queues:
            r = self.cli("resume", "queue", q)
            assert r.returncode == 0, r.stdout + r.stderr

    def shutdown(self) -> list:
        """End of test: stop, then look for sanitizer reports.  Returns the
        problems found (empty list = clean)."""
        problems = []
        try:
            rc = self.stop()
            if rc != 0:
                problems.append(f"ternd exited with status {rc} on SIGTERM")
        except AssertionError as e:
            problems.append(str(e))
        reports = self.sanitizer_reports()
        if reports:
            problems.append(f"sanitizer report(s) {reports} in {self.log}:\n"
                            + self.log_tail(200))
        return problems


# ---------------------------------------------------------------- fixtures

@pytest.fixture(scope="session")
def tern_build() -> Path:
    """The build directory (TERN_BUILD, default build/)."""
    p = Path(_build_env)
    if not p.is_absolute():
        p = REPO / p
    missing = [b for b in ("ternd/ternd", "cli/tern") if not (p / b).exists()]
    if missing:
        pytest.fail(f"not built in {p}: {', '.join(missing)} "
                    f"(run: cmake -S . -B {_build_env} && cmake --build "
                    f"{_build_env})", pytrace=False)
    return p


@pytest.fixture
def sink():
    """A started Sink; example.test is routed to it by the `tern` fixture."""
    with Sink(name="sink") as s:
        yield s


@pytest.fixture
def catchall():
    """A started Sink that `<domain *>` routes to (DSNs and stray mail)."""
    with Sink(name="catchall") as s:
        yield s


@pytest.fixture
def make_tern(tern_build, tmp_path, catchall):
    """Factory: make_tern(routes={...}, extra=..., start=True) -> Tern.
    Every Tern made is stopped at teardown; the test fails there if ternd
    does not stop cleanly or a sanitizer reported anything."""
    made = []

    def make(name: str = "tern", start: bool = True, **kwargs) -> Tern:
        kwargs.setdefault("default_route", catchall)
        t = Tern(tern_build, tmp_path / name, **kwargs)
        made.append(t)
        if start:
            t.start()
        return t

    yield make
    problems = []
    for t in made:
        problems += t.shutdown()
    if problems:
        pytest.fail("\n\n".join(problems), pytrace=False)


@pytest.fixture
def tern(make_tern, sink):
    """A running Tern that routes example.test to `sink`."""
    return make_tern(routes={"example.test": sink})


# ------------------------------------------------- deliverd: DNS and hosts
# (appended for the deliverd issue: a real DNS server on loopback and sinks
# on other 127.0.0.x addresses)

class HostSink(Sink):
    """A Sink on any loopback address (127.0.0.x), so that several
    receivers can share one port (a domain's smtp-port) and MX records
    can point at them.  Received.peer shows the address Tern came from.

        with HostSink("127.0.0.2", port) as mx1: ...
    """

    def __init__(self, host: str = LOOPBACK, port: Optional[int] = None,
                 name: str = "sink", tls_context=None,
                 require_starttls: bool = False):
        self.host = host
        super().__init__(port=port or free_port(), name=name)
        self._tls_context = tls_context
        self._require_starttls = require_starttls

    def start(self) -> "HostSink":
        kw = {}
        if self._tls_context is not None:
            kw["tls_context"] = self._tls_context
            kw["require_starttls"] = self._require_starttls
        self._controller = _SinkController(
            self, _SinkHandler(self), hostname=self.host, port=self.port,
            ready_timeout=scaled(10), server_hostname=f"{self.name}.test",
            enable_SMTPUTF8=True, **kw)
        self._controller.start()
        with self._lock:
            self._counting = True
        return self

    @property
    def addr(self) -> str:
        return f"{self.host}:{self.port}"


class DnsServer:
    """An authoritative DNS server (dnslib) on 127.0.0.1 at a free UDP
    port, serving a zone given as a dict:

        zone = {
            "dns.test": {"MX": [(10, "mx1.dns.test"), (20, "mx2.dns.test")]},
            "mx1.dns.test": {"A": ["127.0.0.2"]},
            "sel._domainkey.dns.test": {"TXT": ["v=DKIM1; k=rsa; p=..."]},
            "2.0.0.127.in-addr.arpa": {"PTR": ["mx1.dns.test"]},
            "broken.test": "SERVFAIL",      # or "TIMEOUT" (no answer)
        }
        with DnsServer(zone) as dns:
            extra = f"name-server {dns.addr}"

    Names not in the zone are NXDOMAIN; a name without the asked type
    gives NOERROR with no answer (NODATA).  `ttl` applies to every record.
    "ADDITIONAL": [(name, "127.0.0.2"), ...] in a name's entry puts those
    A records in the additional section of its answers, as servers do
    for the hosts of MX records (whatever the zone says about them).
    `queries` lists (name, type) of every question, to count lookups.
    The zone may be changed while the server runs (dns.zone[...] = ...).
    """

    def __init__(self, zone: dict, ttl: int = 300, host: str = LOOPBACK,
                 port: int = 0):
        self.zone = {k.lower().rstrip("."): v for k, v in zone.items()}
        self.ttl = ttl
        self.host = host
        self.port = port or None
        self.queries: list = []
        self._lock = threading.Lock()
        self._sock = None
        self._thread = None
        self._stop = threading.Event()

    @property
    def addr(self) -> str:
        return f"{self.host}:{self.port}"

    def count(self, name: str, qtype: Optional[str] = None) -> int:
        name = name.lower().rstrip(".")
        with self._lock:
            return sum(1 for n, t in self.queries
                       if n == name and (qtype is None or t == qtype))

    def start(self) -> "DnsServer":
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind((self.host, self.port or 0))
        self._sock.settimeout(0.2)
        self.port = self._sock.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        if self._sock is not None:
            self._sock.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def _serve(self):
        while not self._stop.is_set():
            try:
                data, peer = self._sock.recvfrom(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            try:
                reply = self._answer(data)
            except Exception:       # a bad packet: no answer
                continue
            if reply is not None:
                try:
                    self._sock.sendto(reply, peer)
                except OSError:
                    pass

    def _answer(self, data: bytes) -> Optional[bytes]:
        from dnslib import (DNSRecord, RR, QTYPE, RCODE, A, AAAA, MX, PTR,
                            TXT)
        req = DNSRecord.parse(data)
        q = req.q
        name = str(q.qname).lower().rstrip(".")
        qtype = QTYPE[q.qtype]
        with self._lock:
            self.queries.append((name, qtype))
        reply = req.reply()
        entry = self.zone.get(name)
        if entry == "TIMEOUT":
            return None
        if entry == "SERVFAIL":
            reply.header.rcode = RCODE.SERVFAIL
            return reply.pack()
        if entry is None:
            reply.header.rcode = RCODE.NXDOMAIN
            return reply.pack()
        for value in entry.get(qtype, []):
            if qtype == "A":
                rdata = A(value)
            elif qtype == "AAAA":
                rdata = AAAA(value)
            elif qtype == "MX":
                pref, host = value
                rdata = MX(host, pref)
            elif qtype == "PTR":
                rdata = PTR(value)
            elif qtype == "TXT":
                # long TXT values (DKIM keys) in 255-byte strings
                b = value.encode()
                rdata = TXT([b[i:i + 255] for i in range(0, len(b), 255)])
            else:
                continue
            reply.add_answer(RR(q.qname, q.qtype, rdata=rdata, ttl=self.ttl))
        for host, addr in entry.get("ADDITIONAL", []):
            reply.add_ar(RR(host, QTYPE.A, rdata=A(addr), ttl=self.ttl))
        return reply.pack()


@pytest.fixture
def dns_zone():
    """Factory: dns_zone({...}) -> a started DnsServer, stopped at the
    end of the test."""
    servers = []

    def make(zone: dict, ttl: int = 300) -> DnsServer:
        s = DnsServer(zone, ttl=ttl).start()
        servers.append(s)
        return s

    yield make
    for s in servers:
        s.stop()


# ------------------------------------------------------- CLI JSON helpers

def cli_json(t, *args):
    """`tern --json ARGS...` against Tern `t`: the parsed answer (asserts
    exit 0)."""
    r = t.cli("--json", *args)
    assert r.returncode == 0, (args, r.stdout, r.stderr)
    return json.loads(r.stdout)


def queue_row(t, name="example.test/{default}"):
    """The row of queue `name` in `tern show queues --json`, or None."""
    for q in cli_json(t, "show", "queues"):
        if q["queue"] == name:
            return q
    return None


# ------------------------------------------------ <cluster>: Redis servers
# (issue 13: shared limits; the tests start their own redis-server on
# loopback, with its own directory, and stop it themselves)

class RedisServer:
    """A redis-server on 127.0.0.1 (a free port), data in `workdir`.

        r = RedisServer(tmp_path / "redis", password="pw").start()
        r.cli("ZRANGE", "tern:{nodes}", "0", "-1")
        r.stop()

    cluster=True starts it with --cluster-enabled (see redis_cluster)."""

    def __init__(self, workdir: Path, password: Optional[str] = None,
                 port: Optional[int] = None, cluster: bool = False):
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.password = password
        self.port = port or free_port()
        self.cluster = cluster
        self.proc: Optional[subprocess.Popen] = None

    @property
    def addr(self) -> str:
        return f"{LOOPBACK}:{self.port}"

    def start(self) -> "RedisServer":
        args = ["redis-server", "--bind", LOOPBACK, "--port", str(self.port),
                "--dir", str(self.dir), "--save", "", "--appendonly", "no",
                "--daemonize", "no", "--protected-mode", "no",
                "--logfile", str(self.dir / "redis.log")]
        if self.password:
            args += ["--requirepass", self.password]
        if self.cluster:
            args += ["--cluster-enabled", "yes", "--cluster-config-file",
                     str(self.dir / "nodes.conf")]
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL,
                                     stderr=subprocess.STDOUT)
        wait_for(lambda: self.ping(), 20, what=f"redis on {self.addr}")
        return self

    def ping(self) -> bool:
        try:
            return self.cli("PING").strip() == "PONG"
        except (subprocess.SubprocessError, OSError):
            return False

    def cli(self, *args, cluster_mode: bool = False) -> str:
        argv = ["redis-cli", "-h", LOOPBACK, "-p", str(self.port)]
        if cluster_mode:
            argv.append("-c")
        if self.password:
            argv += ["--no-auth-warning", "-a", self.password]
        r = subprocess.run(argv + [str(a) for a in args],
                           stdin=subprocess.DEVNULL, capture_output=True,
                           text=True, timeout=scaled(10))
        return r.stdout

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(scaled(10))
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None


def redis_cluster(workdir: Path, n: int = 3) -> list:
    """n started Redis Cluster masters (no replicas) that own all slots."""
    nodes = [RedisServer(Path(workdir) / f"node{i}", cluster=True).start()
             for i in range(n)]
    r = subprocess.run(["redis-cli", "--cluster", "create"] +
                       [x.addr for x in nodes] +
                       ["--cluster-replicas", "0", "--cluster-yes"],
                       stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, timeout=scaled(60))
    assert r.returncode == 0, r.stdout + r.stderr
    wait_for(lambda: all("cluster_state:ok" in x.cli("CLUSTER", "INFO")
                         for x in nodes), 30, what="cluster_state:ok")
    return nodes
