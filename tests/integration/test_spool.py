"""The spool's message log (docs/spool.md): segments are started past
spool-segment-size, removed when nothing in them is needed, and a segment
kept alive by a few deferred messages is compacted: those messages move
to the active segment and survive restarts there."""
import os
import re
import subprocess
import time

import pytest

from conftest import (Sink, free_port, make_message, scaled, spool_records,
                      wait_for)

SENDER = "sender@client.test"


def segments(t):
    return sorted(p.name for p in (t.spool / "queue" / "data").glob("*"))


def deleted_segments_held(t):
    """Removed segments a deliverd process still has open."""
    held = []
    for pid in t.child_pids("deliverd"):
        fds = f"/proc/{pid}/fd"
        for fd in os.listdir(fds):
            try:
                target = os.readlink(os.path.join(fds, fd))
            except OSError:
                continue
            if "/queue/data/" in target and target.endswith("(deleted)"):
                held.append((pid, target))
    return held


def delivered_once_at_start(t, rcpt, start):
    """held.test answers now (a new sink); start() brings Tern up on its
    spool: rcpt's message is delivered, and only once."""
    with Sink(name="late") as late:
        t.set_route("held.test", late)
        start()
        t.wait_messages(late, 1, rcpt=rcpt, timeout=30)
        time.sleep(scaled(2))
        assert len(late.messages) == 1
        t.check_alive()


def test_segments_rotate_and_go_when_done(make_tern, sink):
    """40 messages of 4 KB with 64 KB segments: several segments are
    made; once everything is delivered only the active one is left."""
    t = make_tern(routes={"example.test": sink},
                  extra="spool-segment-size 64k")
    body = ("x" * 70 + "\n") * 57
    for i in range(40):
        r = f"r{i}@example.test"
        t.send(SENDER, [r], make_message(to=r, body=body))
    t.wait_messages(sink, 40, timeout=30)
    # the spent segments are removed; the one left is the third or a
    # later one (160 KB of records, 64 KB each)
    wait_for(lambda: len(segments(t)) == 1, timeout=scaled(15),
             what="spent segments removed")
    # deliverd read them through descriptors of its own (DLV_SEG): it
    # lets go of the removed ones, and keeps nothing of their space
    wait_for(lambda: not deleted_segments_held(t), timeout=scaled(15),
             what="deliverd closing the removed segments")
    assert int(segments(t)[0], 16) >= 3, segments(t)


def test_compaction_moves_a_deferred_message(make_tern, sink, catchall):
    """One message to a domain that does not answer sits in the first
    segment while 30 others pass through and are delivered: compaction
    moves it to the active segment and the first segment is removed.
    After a restart it is still queued, and once its domain answers it
    is delivered exactly once."""
    closed = free_port()
    t = make_tern(routes={"example.test": sink, "held.test": closed},
                  extra="spool-segment-size 64k", retry_after="1h")
    held = t.send(SENDER, ["h@held.test"],
                  make_message(to="h@held.test")).split()[1]
    first = segments(t)[0]
    body = ("y" * 70 + "\n") * 57
    for i in range(30):
        r = f"r{i}@example.test"
        t.send(SENDER, [r], make_message(to=r, body=body))
    t.wait_messages(sink, 30, timeout=30)
    log = t.wait_for(lambda: f"segment {first}: " in t.log_text() and
                     t.log_text(), timeout=scaled(30),
                     what="the first segment to be compacted")
    assert re.search(rf"segment {first}: \d+ of its \d+ bytes still needed "
                     r"\(1 messages\)", log), log[-2000:]
    wait_for(lambda: first not in segments(t), timeout=scaled(15),
             what="the compacted segment removed")
    recs = [r for r in spool_records(t.spool) if r.qid == held]
    assert recs and all(r.whole for r in recs), recs
    assert recs[0].path.name != first

    delivered_once_at_start(t, "h@held.test", t.restart)


def test_a_record_in_two_segments_is_delivered_once(make_tern, catchall):
    """Compaction copies a record and only then removes the old segment;
    a crash in between leaves the message in two segments.  Simulated by
    copying a stopped Tern's segment under a later name: at start the
    message is queued once and delivered once."""
    closed = free_port()
    t = make_tern(routes={"held.test": closed})
    t.send(SENDER, ["twice@held.test"], make_message(to="twice@held.test"))
    assert t.stop() == 0
    seg = sorted((t.spool / "queue" / "data").glob("*"))[-1]
    copy = seg.with_name(f"{int(seg.name, 16) + 5:016x}")
    copy.write_bytes(seg.read_bytes())
    delivered_once_at_start(t, "twice@held.test", t.start)


def test_logs_keep_zeros_ahead_and_recover_through_them(make_tern, sink):
    """The segment and the journal are written over zeros queued put
    ahead of them (docs/spool.md: a sync then writes the data alone).
    Recovery reads the zeros as the end of the log, and journal lines
    that come after a run of zeros (a journal not rewritten at start)
    still count: after a restart the delivered messages are not sent
    again and the deferred ones are sent once, with no warning."""
    for i in range(2):
        sink.add_rule("RCPT", "451 4.3.0 later", count=None,
                      match=f"later{i}@example.test")
    t = make_tern(routes={"example.test": sink}, retry_after="1s")
    rcpts = [f"now{i}@example.test" for i in range(3)]
    for r in rcpts + ["later0@example.test", "later1@example.test"]:
        t.send(SENDER, [r], make_message(to=r))
    for r in rcpts:
        t.wait_messages(sink, 1, rcpt=r)
    journal = t.spool / "queue" / "journal"
    t.wait_for(lambda: journal.read_bytes().rstrip(b"\0").count(b"\n") >= 3,
               what="the three deliveries journaled")
    assert t.stop() == 0

    seg = sorted((t.spool / "queue" / "data").glob("*"))[-1]
    recs = [r for r in spool_records(t.spool) if r.path == seg]
    end = recs[-1].offset + recs[-1].length
    data = seg.read_bytes()
    assert len(data) >= end + 256 * 1024, (len(data), end)
    assert data[end:].count(b"\0") == len(data) - end
    lines = journal.read_bytes()
    text = lines.rstrip(b"\0")
    assert len(lines) > len(text) and text.endswith(b"\n")
    # as if the journal had not been rewritten at the last start: zeros,
    # then lines
    journal.write_bytes(b"\0" * 70000 + text + b"\0" * 4096)

    sink.clear_rules()
    t.start()
    for r in ["later0@example.test", "later1@example.test"]:
        t.wait_messages(sink, 1, rcpt=r, timeout=30)
    time.sleep(scaled(2))
    for r in rcpts + ["later0@example.test", "later1@example.test"]:
        assert len(sink.messages_for(r)) == 1, (r, sink.messages_for(r))
    assert "not a record" not in t.log_text()
    t.check_alive()


def test_records_of_odd_sizes_read_back_after_restart(make_tern, catchall):
    """Bodies of every length modulo 8, one larger than the writer's
    buffer, are written in pieces and hashed on the way; after a restart
    each record checks and each message is delivered once, whole."""
    closed = free_port()
    t = make_tern(routes={"held.test": closed})
    bodies = {}
    for i, n in enumerate([0, 1, 7, 4413, 300001, 262143]):
        r = f"r{i}@held.test"
        # lines of 71 characters and a last one of whatever is left
        text = "".join(chr(97 + k % 26) for k in range(n))
        body = "\n".join(text[k:k + 71]
                         for k in range(0, len(text), 71)) + "\n"
        t.send(SENDER, [r], make_message(to=r, body=body))
        bodies[r] = body
    assert t.stop() == 0
    with Sink(name="late") as late:
        t.set_route("held.test", late)
        t.start()
        for r, body in bodies.items():
            msg = t.wait_messages(late, 1, rcpt=r, timeout=30)[0]
            assert body.replace("\n", "\r\n").encode() in msg.data
        time.sleep(scaled(1))
        assert len(late.messages) == len(bodies)
    assert not (t.spool / "corrupt").exists() or \
        not list((t.spool / "corrupt").iterdir())


# ------------------------------------------------- the spool's disk slows down

class SlowDisk:
    """An ext4 filesystem on a loop device whose writes can be throttled
    to a few a second (the cgroup v1 blkio controller) for the processes
    moved into its cgroup: a real disk that slows down and recovers."""

    BLKIO = "/sys/fs/cgroup/blkio"

    def __init__(self, tmp_path):
        if os.geteuid() != 0:
            pytest.skip("a loop device and a blkio cgroup need root (CI runs as root)")
        if not os.path.exists(os.path.join(self.BLKIO, "cgroup.procs")):
            pytest.skip("no cgroup v1 blkio controller to throttle a disk with")
        self.image = tmp_path / "slowdisk.img"
        self.mnt = tmp_path / "slowdisk"
        self.cg = os.path.join(self.BLKIO, f"tern-slowdisk-{os.getpid()}-{id(self)}")
        self.loop = None
        with open(self.image, "wb") as f:
            f.truncate(128 << 20)
        r = subprocess.run(["losetup", "-f", "--show", str(self.image)],
                           capture_output=True, text=True)
        if r.returncode != 0:
            pytest.skip(f"no loop device: {r.stderr.strip()}")
        self.loop = r.stdout.strip()
        st = os.stat(self.loop)
        self.dev = f"{os.major(st.st_rdev)}:{os.minor(st.st_rdev)}"
        subprocess.run(["mkfs.ext4", "-q", "-F", self.loop], check=True)
        self.mnt.mkdir()
        subprocess.run(["mount", self.loop, str(self.mnt)], check=True)
        os.mkdir(self.cg)

    def enter(self, t):
        """ternd and every daemon under it (their threads go along)."""
        for pid in [t.proc.pid] + list(t.descendants()):
            with open(os.path.join(self.cg, "cgroup.procs"), "w") as f:
                f.write(str(pid))

    def throttle(self, iops: int):
        """At most `iops` writes a second to the disk; 0: no limit."""
        with open(os.path.join(self.cg, "blkio.throttle.write_iops_device"),
                  "w") as f:
            f.write(f"{self.dev} {iops}")

    def close(self):
        if os.path.isdir(self.cg):
            self.throttle(0)
            with open(os.path.join(self.cg, "cgroup.procs")) as f:
                pids = f.read().split()
            for pid in pids:
                try:
                    with open(os.path.join(self.BLKIO, "cgroup.procs"), "w") as f:
                        f.write(pid)
                except OSError:
                    pass
            os.rmdir(self.cg)
        if self.loop is not None:
            subprocess.run(["umount", "-l", str(self.mnt)], capture_output=True)
            subprocess.run(["losetup", "-d", self.loop], capture_output=True)


@pytest.fixture
def slow_disk(tmp_path):
    d = SlowDisk(tmp_path)
    yield d
    d.close()


def test_slow_disk_moves_syncs_off_the_loop_and_back(make_tern, sink,
                                                     slow_disk):
    """The spool's disk slows down to one write a second: mail still
    gets its 250 once it is on disk; queued says the disk is slow and
    syncs in a thread from then on, so that `tern show status` (which
    asks queued) is answered while a message waits for the disk.  Once
    the disk is fast again the syncs come back and queued says so.  Every
    message is delivered once."""
    t = make_tern(routes={"example.test": sink}, start=False)
    t.spool = slow_disk.mnt / "spool"
    t.start()
    slow_disk.enter(t)
    t.send(SENDER, ["before@example.test"], make_message(to="before@example.test"))
    t.wait_messages(sink, 1, rcpt="before@example.test")

    slow_disk.throttle(1)
    # the first slow round runs in queued's loop and tells it the disk is slow
    t.send(SENDER, ["slow1@example.test"], make_message(to="slow1@example.test"))
    t.wait_for(lambda: "the spool's disk is slow" in t.log_text(),
               what="queued's warning about the slow disk")

    # a message waits for the disk (a round takes two seconds now): its
    # DATA is in, no reply yet, and queued answers meanwhile, each time
    # in far less than a round (a loop that waited for the disk would
    # answer the first at the end of the round under way)
    s = t.smtp()
    assert s.mail(SENDER)[0] == 250
    assert s.rcpt("slow2@example.test")[0] == 250
    assert s.putcmd("DATA") is None and s.getreply()[0] == 354
    s.send(make_message(to="slow2@example.test") + b".\r\n")
    time.sleep(0.3)
    for _ in range(3):
        t0 = time.monotonic()
        r = t.cli("show", "status")
        took = time.monotonic() - t0
        assert r.returncode == 0, r.stdout + r.stderr
        assert took < 1.0, f"show status took {took:.2f} s: queued's loop waited for the disk"
    code, text = s.getreply()
    assert code == 250, (code, text)
    s.quit()

    slow_disk.throttle(0)
    for i in range(20):
        r = f"fast{i}@example.test"
        t.send(SENDER, [r], make_message(to=r))
        if "the spool's disk is fast again" in t.log_text():
            break
    t.wait_for(lambda: "the spool's disk is fast again" in t.log_text(),
               what="queued's note that the disk is fast again")
    t.wait_messages(sink, 3 + i + 1)
    time.sleep(scaled(1))
    rcpts = [m.rcpt_tos[0] for m in sink.messages]
    assert len(rcpts) == len(set(rcpts)) == 3 + i + 1, rcpts
