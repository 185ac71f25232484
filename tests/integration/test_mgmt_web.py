"""The web monitor page, opened in headless Chromium: the numbers it shows
are the ones /api/v1/stats gives, the chart has the last hour's traffic,
and the queue and VMTA tables list what Tern holds."""

import base64
import html.parser
import json
import shutil
import subprocess
import urllib.error
import urllib.request
import warnings

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import crypt  # deprecated in 3.11, still the way to call crypt(3)
import pytest

from conftest import LOOPBACK, free_port, make_message, scaled, wait_for

CHROMIUM = shutil.which("chromium")
SENDER = "sender@client.test"


class Page(html.parser.HTMLParser):
    """The text of every element with an id, the rows of every table,
    and the SVG bars, from a dumped DOM."""

    def __init__(self):
        super().__init__()
        self.ids = {}
        self.tables = {}
        self.bars = []
        self.body = {}
        self._stack = []
        self._table = None
        self._row = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "body":
            self.body = a
        if tag == "table":
            self._table = a.get("id")
            self.tables[self._table] = []
        if tag == "tr" and self._table:
            self._row = []
        if tag == "td" and self._row is not None:
            self._row.append("")
        if tag == "rect":
            self.bars.append(a)
        self._stack.append((tag, a.get("id")))
        if a.get("id"):
            self.ids[a["id"]] = ""

    def handle_endtag(self, tag):
        while self._stack:
            t, _ = self._stack.pop()
            if t == tag:
                break
        if tag == "tr" and self._row is not None:
            if self._row:
                self.tables[self._table].append(self._row)
            self._row = None
        if tag == "table":
            self._table = None

    def handle_data(self, data):
        for _, i in self._stack:
            if i:
                self.ids[i] += data
        if self._row is not None and self._stack and \
                self._stack[-1][0] == "td":
            self._row[-1] += data


def dump_dom(url, profile):
    r = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
         "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
         "--virtual-time-budget=4000", "--dump-dom", url],
        capture_output=True, text=True, timeout=scaled(90))
    assert r.returncode == 0, r.stderr[-2000:]
    p = Page()
    p.feed(r.stdout)
    return p


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed "
                    "(scripts/install-deps.sh installs it)")
def test_monitor_page_in_chromium(make_tern, sink, tmp_path):
    port = free_port()
    pw = tmp_path / "htpasswd"
    pw.write_text("ops:" + crypt.crypt(
        "pw", crypt.mksalt(crypt.METHOD_SHA512)) + "\n")
    t = make_tern(routes={"example.test": sink},
                  extra=f"http-mgmt-port {port}\nhttp-mgmt-auth {pw}\n"
                        "http-access 127.0.0.1 monitor\n")
    sink.add_rule("RCPT", "550 5.1.1 no such user", count=1,
                  match="bad@example.test")
    # NOTIFY=NEVER: no DSN for bad@, so only this message is counted
    t.send(SENDER, ["good@example.test", "bad@example.test"],
           make_message(), rcpt_options=["NOTIFY=NEVER"])
    t.wait_acct("b", "bad@example.test")
    t.wait_messages(sink, 1)
    t.cli("pause", "queue", "other.test/{default}")
    t.send(SENDER, ["waits@other.test"], make_message())

    auth = {"Authorization": "Basic " +
            base64.b64encode(b"ops:pw").decode()}

    def stats():
        req = urllib.request.Request(
            f"http://{LOOPBACK}:{port}/api/v1/stats", headers=auth)
        with urllib.request.urlopen(req, timeout=scaled(10)) as r:
            return json.load(r)

    # The per-minute ring is sampled every few seconds: wait until the
    # last hour holds every delivery (the good one, and the DSN for the
    # bad one when bounced sends it) and nothing moves any more, so that
    # page and API see the same numbers.
    last = {}

    def settled():
        s = stats()
        st, h = s["status"], s["traffic"]["lastHour"]
        key = (st["delivered"], st["bounced"], st["received"],
               st["queue"]["messages"], st["retryPending"])
        ok = (st["bounced"] == 1 and st["queue"]["recipients"] == 1 and
              st["retryPending"] == 0 and
              h["delivered"] == st["delivered"] and
              last.get("key") == key)
        last["key"] = key
        return ok and s

    s = wait_for(settled, timeout=40, interval=1, what="traffic sampled")

    page = dump_dom(f"http://ops:pw@{LOOPBACK}:{port}/", tmp_path / "chr")
    assert page.body.get("data-loaded") == "1", page.ids.get("error")
    assert page.ids["error"] == ""
    st = s["status"]
    for key, value in (("n-received", st["received"]),
                       ("n-delivered", st["delivered"]),
                       ("n-bounced", st["bounced"]),
                       ("n-deferred", st["deferred"]),
                       ("n-messages", st["queue"]["messages"]),
                       ("n-recipients", st["queue"]["recipients"]),
                       ("n-retry", st["retryPending"])):
        assert page.ids[key].strip() == str(value), key
    assert st["delivered"] >= 1 and st["bounced"] == 1
    # The paused message is in the spool.
    assert st["queue"]["bytes"] > 100
    assert page.ids["n-spool"].strip() == \
        f"{st['queue']['bytes'] / 1024:.1f} kB"
    assert page.ids["h-delivered"].strip() == str(st["delivered"])
    assert page.ids["h-bounced"].strip() == "1"

    # The chart: one delivered and one bounced bar this minute.
    kinds = [b.get("class") for b in page.bars]
    assert "bar-delivered" in kinds and "bar-bounced" in kinds

    queues = {r[0]: r for r in page.tables["queues"]}
    assert queues["other.test/{default}"][1] == "1"
    assert queues["other.test/{default}"][3] == "paused"
    assert queues["example.test/{default}"][4] == "1"   # delivered
    vmtas = {r[0]: r for r in page.tables["vmtas"]}
    req = urllib.request.Request(f"http://{LOOPBACK}:{port}/api/v1/vmtas",
                                 headers=auth)
    with urllib.request.urlopen(req, timeout=scaled(10)) as r:
        api = {v["vmta"]: v for v in json.load(r)}
    assert vmtas["{default}"][1] == str(api["{default}"]["queues"])
    assert vmtas["{default}"][2] == "1"                 # rcpts (paused)
    procs = {r[0]: r[1] for r in page.tables["procs"]}
    assert procs["queued"] == "running" and procs["mgmtd"] == "running"

    # Without credentials the page itself is refused.
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(f"http://{LOOPBACK}:{port}/",
                               timeout=scaled(10))
    assert e.value.code == 401
