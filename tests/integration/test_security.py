"""Security: privilege separation, the control socket, relaying with a bad
AUTH, secrets kept out of the logs.

Other security properties are tested where their daemon is:
test_smtpd.py (relaying only from allowed sources, AUTH failures slowed
then disconnected, the AUTH failure rate lock-out, AUTH only under TLS)
and test_mgmt.py (the HTTP API refused without credentials);
docs/reliability.md lists them all.
"""

import base64
import grp
import os
import pwd
import shutil
import smtplib
import stat
import subprocess
import tempfile
from pathlib import Path

import pytest

from conftest import LOOPBACK, make_message, scaled

SENDER = "sender@client.test"
DAEMONS = ("smtpd", "queued", "deliverd", "bounced", "mgmtd")


def _sanitizer_build(build: Path) -> bool:
    cache = build / "CMakeCache.txt"
    return cache.exists() and "TERN_SANITIZE:BOOL=ON" in cache.read_text()


def _need_root_privsep(build: Path):
    if os.geteuid() != 0:
        pytest.skip("privilege separation happens only when ternd runs as "
                    "root (CI runs as root)")
    if _sanitizer_build(build):
        pytest.skip("the sanitizer build keeps root and no chroot on "
                    "purpose (LeakSanitizer reads /proc at exit; "
                    "common/proc.c); tested with the normal build")


def _ids(pid: int):
    """(real, effective, saved, fs uid), the same for gid, and groups."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        k, _, v = line.partition(":")
        fields[k] = v.split()
    return ([int(x) for x in fields["Uid"]], [int(x) for x in fields["Gid"]],
            sorted(int(x) for x in fields.get("Groups", [])))


def test_each_daemon_runs_as_its_user_in_its_chroot(make_tern, sink,
                                                    tern_build):
    """ternd alone stays root; queued runs as _ternq chrooted into the
    spool, bounced as _tern in the accounting directory, smtpd, every
    deliverd and mgmtd as _tern in the empty directory; no daemon keeps
    a supplementary group or a way back to root (all four uids)."""
    _need_root_privsep(tern_build)
    t = make_tern(routes={"example.test": sink})
    t.send(SENDER, ["a@example.test"], make_message())  # all of them work
    t.wait_messages(sink, 1)
    tern, ternq = pwd.getpwnam("_tern"), pwd.getpwnam("_ternq")
    expect = {
        "queued": (ternq, t.spool),
        "bounced": (tern, t.acct.parent),
        "smtpd": (tern, Path("/var/empty/tern")),
        "deliverd": (tern, Path("/var/empty/tern")),
        "mgmtd": (tern, Path("/var/empty/tern")),
    }
    seen = 0
    for name in DAEMONS:
        user, root = expect[name]
        for pid in t.child_pids(name):
            uids, gids, groups = _ids(pid)
            assert uids == [user.pw_uid] * 4, (name, uids)
            assert gids == [user.pw_gid] * 4, (name, gids)
            assert groups in ([], [user.pw_gid]), (name, groups)
            assert os.readlink(f"/proc/{pid}/root") == \
                str(root.resolve()), name
            seen += 1
    assert seen == len(DAEMONS) + 1         # two deliverd workers
    uids, _, _ = _ids(t.proc.pid)
    assert uids[0] == 0 and os.readlink(f"/proc/{t.proc.pid}/root") == "/"
    # the spool is queued's alone
    st = t.spool.stat()
    assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (ternq.pw_uid, 0o700)


@pytest.fixture
def open_dir():
    """A directory anyone may enter (pytest's tmp_path is root's alone,
    which would hide the control socket's own permissions)."""
    d = Path(tempfile.mkdtemp(prefix="tern-sec-", dir="/tmp"))
    d.chmod(0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def test_control_socket_is_root_only(make_tern, sink, open_dir):
    """The control socket is a socket of mode 0660 owned by the user ternd
    runs as; another user who can see it cannot use it, root can."""
    t = make_tern(routes={"example.test": sink},
                  control_path=open_dir / "control.sock")
    st = t.control.stat()
    assert stat.S_ISSOCK(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o660, oct(st.st_mode)
    assert st.st_uid == os.geteuid()
    r = t.cli("-s", t.control, "show", "status", conf=False)
    assert r.returncode == 0, r.stdout + r.stderr

    if os.geteuid() != 0 or shutil.which("runuser") is None:
        pytest.skip("trying another user needs root and runuser")
    cli = open_dir / "tern"
    shutil.copy(t.tern_cli, cli)
    cli.chmod(0o755)
    as_nobody = ["runuser", "-u", "nobody", "--"]
    seen = subprocess.run(as_nobody + ["test", "-S", str(t.control)],
                          capture_output=True, timeout=scaled(30))
    assert seen.returncode == 0, "nobody cannot even see the socket: the " \
        "test would prove nothing"
    r = subprocess.run(as_nobody + [str(cli), "-s", str(t.control), "show",
                                    "status"], stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=scaled(30))
    assert r.returncode != 0, r.stdout
    assert "ermission denied" in r.stderr, r.stderr
    assert "Uptime" not in r.stdout and "uptime" not in r.stdout


def test_control_socket_admits_the_tern_group(make_tern, sink, open_dir):
    """With a `tern` group on the system (the package creates it), ternd
    makes the control socket root:tern 0660, so an operator in that group
    runs `tern` without root, and one outside it still cannot."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("changing groups and users needs root and setpriv")
    created = subprocess.run(["getent", "group", "tern"],
                             capture_output=True).returncode != 0
    if created:
        subprocess.run(["groupadd", "--system", "tern"], check=True,
                       timeout=30)
    try:
        gid = grp.getgrnam("tern").gr_gid
        t = make_tern(routes={"example.test": sink},
                      control_path=open_dir / "control.sock")
        st = t.control.stat()
        assert (st.st_gid, stat.S_IMODE(st.st_mode)) == (gid, 0o660)
        cli = open_dir / "tern"
        shutil.copy(t.tern_cli, cli)
        cli.chmod(0o755)
        nobody = ["setpriv", "--reuid=nobody", "--regid=nogroup"]
        args = [str(cli), "-s", str(t.control), "show", "status"]
        member = subprocess.run(nobody + [f"--groups={gid}"] + args,
                                stdin=subprocess.DEVNULL, capture_output=True,
                                text=True, timeout=scaled(30))
        assert member.returncode == 0, member.stdout + member.stderr
        assert "status" in member.stdout and "running" in member.stdout
        other = subprocess.run(nobody + ["--clear-groups"] + args,
                               stdin=subprocess.DEVNULL, capture_output=True,
                               text=True, timeout=scaled(30))
        assert other.returncode != 0 and "ermission denied" in other.stderr
    finally:
        if created:
            subprocess.run(["groupdel", "tern"], timeout=30)


# ------------------------------------------------------- AUTH and secrets

PASSWORD = "Zq7-very-secret-pass"
WRONG = "Wrong-guess-0815"


def _htpasswd(path: Path, user: str, pw: str) -> str:
    h = subprocess.run(["openssl", "passwd", "-6", pw], check=True,
                       capture_output=True, text=True,
                       timeout=30).stdout.strip()
    path.write_text(f"{user}:{h}\n")
    return h


def _auth_tern(make_tern, sink, tmp_path, extra="", **kw):
    """127.0.0.3 may relay only after AUTH (plain text allowed, to keep
    the test short); 127.0.0.1 relays as usual."""
    pwfile = tmp_path / "passwd"
    hashed = _htpasswd(pwfile, "erin", PASSWORD)
    t = make_tern(routes={"example.test": sink}, extra=(
        "<source 127.0.0.3>\n"
        f"    auth-plain {pwfile}\n"
        "    allow-unencrypted-plain-auth yes\n"
        "</source>\n" + extra), **kw)
    return t, hashed


def _client(t):
    s = smtplib.SMTP(LOOPBACK, t.smtp_port, timeout=scaled(30),
                     local_hostname="client.test",
                     source_address=("127.0.0.3", 0))
    s.ehlo()
    return s


def _plain(user, pw):
    return base64.b64encode(f"\0{user}\0{pw}".encode()).decode()


def test_bad_auth_does_not_open_relaying(make_tern, sink, tmp_path):
    """A client that may relay only when authenticated: after a failed
    AUTH, relaying is still refused (550 5.7.1); after a good one it is
    allowed."""
    t, _ = _auth_tern(make_tern, sink, tmp_path)
    with _client(t) as s:
        code, _ = s.docmd("AUTH", "PLAIN " + _plain("erin", WRONG))
        assert code == 535
        assert s.mail(SENDER)[0] == 250
        code, msg = s.rcpt("relay@example.test")
        assert code == 550 and msg.startswith(b"5.7.1"), msg
        s.rset()
        code, msg = s.docmd("AUTH", "PLAIN " + _plain("nobody", PASSWORD))
        assert code == 535, msg
        assert s.mail(SENDER)[0] == 250
        assert s.rcpt("relay@example.test")[0] == 550
        s.rset()
        code, msg = s.docmd("AUTH", "PLAIN " + _plain("erin", PASSWORD))
        assert code == 235, msg
        t.send_on(s, SENDER, ["relay@example.test"], make_message())
    t.wait_messages(sink, 1, rcpt="relay@example.test")


def test_no_passwords_or_keys_in_logs(make_tern, sink, tmp_path,
                                      monkeypatch):
    """With every debug line on (-v): an AUTH with the right password, one
    with a wrong one (AUTH PLAIN and LOGIN), and a DKIM-signed delivery.
    Neither password, nor their base64 forms, nor the password hash, nor
    any line of the DKIM private key shows up in the daemons' logs."""
    monkeypatch.setenv("TERN_VERBOSE", "1")
    key = tmp_path / "dkim.pem"
    subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt",
                    "rsa_keygen_bits:2048", "-out", str(key)], check=True,
                   capture_output=True, timeout=60)
    t, hashed = _auth_tern(
        make_tern, sink, tmp_path,
        extra=f"domain-key sel,client.test,{key}\n",
        domain_settings={"example.test": "dkim-sign yes"})
    b64 = lambda s: base64.b64encode(s.encode()).decode()   # noqa: E731
    with _client(t) as s:
        assert s.docmd("AUTH", "PLAIN " + _plain("erin", WRONG))[0] == 535
        assert s.docmd("AUTH", "LOGIN")[0] == 334
        assert s.docmd(b64("erin"))[0] == 334
        assert s.docmd(b64(WRONG))[0] == 535
        assert s.docmd("AUTH", "PLAIN " + _plain("erin", PASSWORD))[0] == 235
        t.send_on(s, SENDER, ["signed@example.test"], make_message())
    got = t.wait_messages(sink, 1, rcpt="signed@example.test")[0]
    assert b"DKIM-Signature:" in got.data        # the key was used
    t.wait_acct("d", "signed@example.test")
    assert t.stop() == 0                         # every line flushed

    log = t.log_text()
    assert "started smtpd (pid" in log, "not a verbose (-v) log"
    assert "authentication failed" in log
    secrets = [PASSWORD, WRONG, b64(PASSWORD), b64(WRONG),
               _plain("erin", PASSWORD), _plain("erin", WRONG), hashed]
    secrets += [line for line in key.read_text().splitlines()
                if line and not line.startswith("-----")]
    leaked = [s for s in secrets if s in log]
    assert leaked == [], f"secrets in {t.log}: {leaked}"
