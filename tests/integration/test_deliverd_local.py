"""deliverd: local pipe delivery (`type pipe` + `command`, or the seeds'
`local yes` + `mailbox-command`).  ternd runs the command, as the pipe
user when it is root, with the message on stdin; the exit status gives
the accounting row (0 d, 75 t, other b).
"""

import os
import pwd
import shutil
import tempfile

import pytest

from conftest import make_message

SENDER = "sender@client.test"

SCRIPT = """#!/bin/sh
# $1: the local part ($user); the message on stdin
out="{out}/$1.$$"
cat > "$out.msg"
id -un > "$out.user"
echo "$SENDER $RECIPIENT" > "$out.env"
case "$1" in
ok*) exit 0 ;;
soft*) echo "mailbox busy, later"; exit 75 ;;
*) echo "no such mailbox: $1"; exit 1 ;;
esac
"""


@pytest.fixture
def pipe_dir():
    """A directory the pipe user can reach: the script (0755) and out/
    (0777), outside pytest's private tmp."""
    d = tempfile.mkdtemp(prefix="tern-pipe-")
    os.chmod(d, 0o755)
    out = os.path.join(d, "out")
    os.mkdir(out)
    os.chmod(out, 0o777)
    script = os.path.join(d, "deliver.sh")
    with open(script, "w") as f:
        f.write(SCRIPT.format(out=out))
    os.chmod(script, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def _outputs(d, local, ext):
    out = os.path.join(d, "out")
    return [open(os.path.join(out, f), "rb").read()
            for f in sorted(os.listdir(out))
            if f.startswith(local + ".") and f.endswith(ext)]


def _pipe_user():
    return "nobody" if os.geteuid() == 0 else pwd.getpwuid(os.getuid())[0]


def test_pipe_exit_status_gives_d_t_b(make_tern, pipe_dir):
    """exit 0: d row, the message on the command's stdin; exit 75: t row
    with the command's words; exit 1: b row.  The command runs as
    pipe-user (when ternd is root), with SENDER and RECIPIENT set."""
    t = make_tern(domain_settings={"local.test":
                                   "type pipe\n"
                                   f'command "{pipe_dir}/deliver.sh $user"\n'
                                   f"pipe-user {_pipe_user()}\n"
                                   "retry-after 1h"})
    msg = make_message(subject="to a pipe", body="Pipe body line.\n")
    t.send(SENDER, ["ok@local.test", "soft@local.test", "hard@local.test"],
           msg)
    d = t.wait_acct("d", "ok@local.test")[0]
    assert d["dsnStatus"].startswith("2.")
    soft = t.wait_acct("t", "soft@local.test")[0]
    assert soft["dsnStatus"].startswith("4.")
    assert "mailbox busy, later" in soft["dsnDiag"]
    hard = t.wait_acct("b", "hard@local.test")[0]
    assert hard["dsnStatus"].startswith("5.")
    assert "no such mailbox: hard" in hard["dsnDiag"]
    body = _outputs(pipe_dir, "ok", ".msg")[0]
    assert b"Subject: to a pipe" in body and b"Pipe body line." in body
    assert body.endswith(b"Pipe body line.\r\n")    # no envelope after it
    assert _outputs(pipe_dir, "ok", ".user")[0].strip().decode() == \
        _pipe_user()
    assert _outputs(pipe_dir, "ok", ".env")[0].split() == \
        [SENDER.encode(), b"ok@local.test"]


def test_local_yes_mailbox_command(make_tern, pipe_dir):
    """The seeds' form: local yes + mailbox-command."""
    t = make_tern(domain_settings={"local.test":
                                   "local yes\n"
                                   f'mailbox-command "{pipe_dir}/deliver.sh '
                                   '$user"\n'
                                   f"pipe-user {_pipe_user()}"})
    t.send(SENDER, ["okseed@local.test"], make_message())
    t.wait_acct("d", "okseed@local.test")
    assert len(_outputs(pipe_dir, "okseed", ".msg")) == 1


def test_pipe_command_missing_is_soft(make_tern, pipe_dir):
    """A command that cannot run is a config error, not the recipient's:
    a t row saying so, no bounce."""
    t = make_tern(domain_settings={"local.test":
                                   "type pipe\n"
                                   f'command "{pipe_dir}/nothere $user"\n'
                                   "retry-after 1h"})
    t.send(SENDER, ["x@local.test"], make_message())
    row = t.wait_acct("t", "x@local.test")[0]
    assert "cannot run" in row["dsnDiag"]
    assert not t.acct_rows("b")
