"""Configuration: hot reload (SIGHUP and `tern reload`), listeners that
follow the config, errors that reach the caller, the shipped config.

Each test runs the real suite (conftest.Tern) on 127.0.0.1 and changes
its config file while it runs.
"""

import json
import os
import signal
import smtplib
import socket
import threading
import time

import pytest

from conftest import REPO, Sink, free_port, make_message, scaled, LOOPBACK

SENDER = "sender@client.test"


def _reload(t, expect_ok=True):
    r = t.cli("reload")
    if expect_ok:
        assert r.returncode == 0, (r.stdout, r.stderr, t.log_tail())
    return r


def _rcpts_at(*sinks):
    out = []
    for s in sinks:
        for m in s.messages:
            out += [r.lower() for r in m.rcpt_tos]
    return out


def _can_connect(port):
    try:
        with socket.create_connection((LOOPBACK, port), timeout=2) as s:
            s.settimeout(scaled(5))
            return s.recv(64).startswith(b"220")
    except OSError:
        return False


# ------------------------------------------------------------ route, limits

def test_reload_changes_route_and_max_smtp_out_under_load(make_tern):
    """While mail flows, a reload points example.test at another server
    and lowers max-smtp-out to 1: nothing is lost or sent twice, mail
    sent after the reload goes to the new server over one connection at
    a time."""
    with Sink(name="old") as old, Sink(name="new") as new:
        t = make_tern(routes={"example.test": old},
                      domain_settings={"example.test": "max-smtp-out 4"})
        sent, errors = [], []

        def load():
            try:
                for i in range(30):
                    rcpt = f"during{i}@example.test"
                    t.send(SENDER, [rcpt], make_message(f"during {i}",
                                                        to=rcpt))
                    sent.append(rcpt)
                    time.sleep(0.02)
            except Exception as e:      # reported below
                errors.append(e)

        th = threading.Thread(target=load)
        th.start()
        t.wait_for(lambda: len(sent) >= 10, what="10 messages sent")
        t.routes["example.test"] = new
        t.domain_settings["example.test"] = "max-smtp-out 1"
        t.write_config()
        _reload(t)
        th.join(scaled(60))
        assert not th.is_alive() and not errors, errors

        after = [f"after{i}@example.test" for i in range(15)]
        with t.smtp() as s:
            for rcpt in after:
                t.send_on(s, SENDER, [rcpt], make_message("after", to=rcpt))

        everything = sent + after
        t.wait_for(lambda: len(_rcpts_at(old, new)) >= len(everything),
                   timeout=60, what="every message delivered")
        time.sleep(scaled(1))
        got = _rcpts_at(old, new)
        assert sorted(got) == sorted(everything)          # once each
        assert set(after) <= set(_rcpts_at(new)), \
            "mail sent after the reload went to the old route"
        assert new.max_concurrent <= 1
        assert old.messages, "nothing went to the old route before reload"


def test_sighup_reloads(make_tern):
    with Sink(name="old") as old, Sink(name="new") as new:
        t = make_tern(routes={"example.test": old})
        t.send(SENDER, ["a@example.test"], make_message("a"))
        t.wait_messages(old, 1)
        t.routes["example.test"] = new
        t.write_config()
        t.proc.send_signal(signal.SIGHUP)
        t.wait_for(lambda: "configuration reloaded" in t.log_text(),
                   what="reload logged")
        t.send(SENDER, ["b@example.test"], make_message("b"))
        t.wait_messages(new, 1, rcpt="b@example.test")
        assert not old.messages_for("b@example.test")


def test_restarted_daemon_gets_the_reloaded_config(make_tern):
    with Sink(name="old") as old, Sink(name="new") as new:
        t = make_tern(routes={"example.test": old}, deliverd_processes=1)
        t.routes["example.test"] = new
        t.write_config()
        _reload(t)
        pid = t.child_pid("deliverd")
        os.kill(pid, signal.SIGKILL)
        t.wait_for(lambda: (p := t.child_pids("deliverd")) and p != [pid],
                   what="deliverd restarted")
        t.send(SENDER, ["c@example.test"], make_message("c"))
        t.wait_messages(new, 1, rcpt="c@example.test")
        assert not old.messages


def test_reload_changes_settings_queued_reads_per_message(make_tern, sink):
    """queued looks a domain's settings up once per configuration: a
    reload that gives example.test a bounce-domain makes the next
    message to it VERP'd (MAIL FROM names the recipient), not one to
    another domain, and one that takes it away again stops it."""
    t = make_tern(routes={"example.test": sink, "other.test": sink})
    t.send("news@client.test", ["a@example.test"], make_message(to="a"))
    [a] = t.wait_messages(sink, 1, rcpt="a@example.test")
    assert a.mail_from == "news@client.test"

    t.domain_settings["example.test"] = "bounce-domain bounce.test"
    t.write_config()
    _reload(t)
    t.send("news@client.test", ["b@example.test"], make_message(to="b"))
    t.send("news@client.test", ["c@other.test"], make_message(to="c"))
    [b] = t.wait_messages(sink, 1, rcpt="b@example.test")
    [c] = t.wait_messages(sink, 1, rcpt="c@other.test")
    assert b.mail_from == "news-b=example.test@bounce.test"
    assert c.mail_from == "news@client.test"

    t.domain_settings["example.test"] = ""
    t.write_config()
    _reload(t)
    t.send("news@client.test", ["d@example.test"], make_message(to="d"))
    [d] = t.wait_messages(sink, 1, rcpt="d@example.test")
    assert d.mail_from == "news@client.test"


def test_reload_changes_a_queues_max_delivery_attempts(make_tern, sink):
    """A queue keeps its settings between messages; a reload that lowers
    max-delivery-attempts of a queue that exists applies to the
    recipient it holds: the next failed attempt bounces it."""
    sink.add_rule("RCPT", "451 4.2.1 try later", count=None)
    t = make_tern(routes={"example.test": sink},
                  domain_settings={"example.test":
                                   "max-delivery-attempts 100\n"
                                   "retry-after 1s"})
    t.send(SENDER, ["a@example.test"], make_message())
    t.wait_acct("t", "a@example.test")
    assert t.acct_rows("b", "a@example.test") == []
    t.domain_settings["example.test"] = ("max-delivery-attempts 2\n"
                                         "retry-after 1s")
    t.write_config()
    _reload(t)
    t.wait_acct("b", "a@example.test", timeout=30)


# ------------------------------------------------------------ bad reloads

def test_bad_reload_keeps_old_config_and_reports_every_error(make_tern,
                                                             sink):
    with Sink(name="new") as new:
        t = make_tern(routes={"example.test": sink})
        good = t.conf.read_text()
        bad = good.replace(f"route {sink.addr}", f"route {new.addr}")
        bad += "no-such-directive 1\n<domain bad.test>\n" \
               "    max-smtp-out lots\n</domain>\n"
        t.conf.write_text(bad)
        nlines = len(bad.splitlines())
        r = _reload(t, expect_ok=False)
        assert r.returncode == 1
        out = r.stdout + r.stderr
        conf = str(t.conf)
        assert f"{conf}:{nlines - 3}:" in out and "no-such-directive" in out
        assert f"{conf}:{nlines - 1}:" in out and "max-smtp-out" in out
        assert "running configuration stays" in out
        # ... and the log has them too.
        assert "no-such-directive" in t.log_text()

        # The old route is still in use.
        t.send(SENDER, ["d@example.test"], make_message("d"))
        t.wait_messages(sink, 1, rcpt="d@example.test")
        time.sleep(scaled(0.5))
        assert not new.messages

        # Fixed: the next reload takes.
        t.conf.write_text(good.replace(f"route {sink.addr}",
                                       f"route {new.addr}"))
        _reload(t)
        t.send(SENDER, ["e@example.test"], make_message("e"))
        t.wait_messages(new, 1, rcpt="e@example.test")


def test_reload_json_answer(make_tern):
    t = make_tern()
    t.conf.write_text(t.conf.read_text() + "bogus-directive yes\n")
    r = t.cli("--json", "reload")
    assert r.returncode == 1
    j = json.loads(r.stdout)
    assert j["ok"] is False and "bogus-directive" in j["message"]


# ------------------------------------------------------------ listeners

def test_listener_added_and_removed_by_reload(make_tern, sink):
    t = make_tern(routes={"example.test": sink})
    port = free_port()
    base = t.extra
    t.extra = base + f"\nsmtp-listener {LOOPBACK}:{port}\n"
    t.write_config()
    assert not _can_connect(port)
    _reload(t)
    t.wait_for(lambda: _can_connect(port), what="new listener")
    with smtplib.SMTP(LOOPBACK, port, local_hostname="client.test",
                      timeout=scaled(30)) as s:
        s.ehlo()
        t.send_on(s, SENDER, ["f@example.test"], make_message("f"))
    t.wait_messages(sink, 1, rcpt="f@example.test")

    # Removed again: refused there, the original listener still works.
    t.extra = base
    t.write_config()
    _reload(t)
    t.wait_for(lambda: not _can_connect(port), what="listener closed")
    assert _can_connect(t.smtp_port)


def test_reload_with_unbindable_listener_fails_and_changes_nothing(
        make_tern, sink):
    t = make_tern(routes={"example.test": sink})
    with socket.socket() as busy:
        busy.bind((LOOPBACK, 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        t.extra = f"smtp-listener {LOOPBACK}:{port}\n"
        t.write_config()
        r = _reload(t, expect_ok=False)
        assert r.returncode == 1
        assert f"{LOOPBACK}:{port}" in r.stdout + r.stderr
    assert _can_connect(t.smtp_port)


# ------------------------------------------------------------ shipped config

def test_shipped_config_is_valid(make_tern):
    t = make_tern(start=False)
    r = t.cli("check-config", str(REPO / "etc" / "tern.conf"), conf=False)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "error" not in r.stdout.lower().replace("0 errors", "")


# ------------------------------------------------------------ show settings

def test_show_settings_says_where_each_value_came_from(make_tern, sink):
    """Global, per-VMTA and per-domain values with FILE:LINE, or
    "default" for what no file sets; --vmta/--domain pick the queue."""
    t = make_tern(routes={"example.test": sink}, start=False,
                  domain_settings={"example.test": "max-smtp-out 3"})
    t.extra = ("<virtual-mta blue>\n"
               "    smtp-source-host 127.0.0.1 blue.test\n"
               "    <domain example.test>\n"
               "        max-smtp-out 7\n"
               "    </domain>\n"
               "</virtual-mta>\n")
    t.start()
    lines = t.conf.read_text().splitlines()
    conf = str(t.conf)

    def line_of(text, start=0):
        return next(i + 1 for i, l in enumerate(lines)
                    if i >= start and l.strip() == text)

    r = t.cli("--json", "show", "settings")
    assert r.returncode == 0, r.stderr
    j = json.loads(r.stdout)
    assert j["from"]["host-name"] == f"{conf}:{line_of('host-name tern.test')}"
    assert j["from"]["total-max-smtp-in"] == "default"

    r = t.cli("--json", "show", "settings", "--domain", "example.test")
    j = json.loads(r.stdout)
    assert j["settings"]["max-smtp-out"] == "3"
    assert j["from"]["max-smtp-out"] == \
        f"{conf}:{line_of('max-smtp-out 3')}"
    assert j["from"]["retry-after"] == f"{conf}:{line_of('retry-after 2s')}"

    r = t.cli("--json", "show", "settings", "--vmta", "blue",
              "--domain=example.test")
    j = json.loads(r.stdout)
    assert j["settings"]["max-smtp-out"] == "7"
    assert j["from"]["max-smtp-out"] == f"{conf}:{line_of('max-smtp-out 7')}"

    # The human table has the same, as a comment column.
    r = t.cli("show", "settings", "--domain", "example.test")
    assert r.returncode == 0, r.stderr
    row = next(l for l in r.stdout.splitlines()
               if l.split()[:1] == ["max-smtp-out"])
    assert row.split()[1] == "3" and row.endswith(
        f"# {conf}:{line_of('max-smtp-out 3')}")

    # After a reload, the new file's lines.
    t.domain_settings["example.test"] = "\nmax-smtp-out 4"
    t.write_config()
    _reload(t)
    lines = t.conf.read_text().splitlines()
    j = json.loads(t.cli("--json", "show", "settings",
                         "--domain", "example.test").stdout)
    assert j["settings"]["max-smtp-out"] == "4"
    assert j["from"]["max-smtp-out"] == f"{conf}:{line_of('max-smtp-out 4')}"


def test_directive_docs_match_the_table():
    """docs/configuration.md lists the directives the parser knows and
    the ones daemons act on, generated from common/cfg_directives.c."""
    import subprocess
    import sys
    r = subprocess.run([sys.executable, str(REPO / "scripts" /
                                            "gen-directives.py"), "--check"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr


def test_reload_says_what_waits_for_a_restart(make_tern, tmp_path):
    t = make_tern(deliverd_processes=2)
    t.deliverd_processes = 3
    t.acct = tmp_path / "other-acct.csv"
    t.write_config()
    r = _reload(t)
    out = r.stdout + r.stderr
    assert "deliverd-processes changed: takes effect when ternd restarts" \
        in out
    assert "accounting files changed" in out
    assert len(t.child_pids("deliverd")) == 2
