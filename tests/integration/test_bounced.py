"""bounced: accounting layouts, bounce categories and DSNs, end to end.

Every test starts the suite on its own config (conftest.make_tern) and
reads the accounting CSVs with Python's csv module by header name.
"""
import csv
import io
from pathlib import Path

from conftest import make_message, scaled, wait_for

SENDER = "sender@client.test"


def _rows(path: Path) -> tuple:
    """(header, rows as dicts) of a CSV file, complete lines only."""
    if not path.exists():
        return [], []
    raw = path.read_bytes()
    text = raw[:raw.rfind(b"\n") + 1].decode("utf-8")
    header = next(csv.reader(io.StringIO(text, newline="")), [])
    return header, list(csv.DictReader(io.StringIO(text, newline="")))


# ------------------------------------------------------------ record-fields

def test_record_fields_user_string_iso_times_queue_filter(make_tern, sink,
                                                          tmp_path):
    """A second <acct-file> picks its own columns per record type."""
    custom = tmp_path / "custom.csv"
    other = tmp_path / "other.csv"
    extra = f"""
<acct-file {custom}>
    records d, b
    record-fields d timeLogged,orig,rcpt,dlvSourceIp
    record-fields b *,!dsnMta,!orcpt,header_Message-Id
    user-string campaign-7
    iso-times no
</acct-file>
<acct-file {other}>
    records d, b
    queue-filter other.test
</acct-file>
"""
    tern = make_tern(routes={"example.test": sink}, extra=extra)
    good, bad = "here@example.test", "gone@example.test"
    sink.add_rule("RCPT", "550 5.1.1 <gone@example.test>: no such user",
                  count=None, match=bad)
    tern.send(SENDER, [good, bad], make_message(to=good))
    tern.wait_acct("d", good)
    tern.wait_acct("b", bad)

    def both():
        h, rows = _rows(custom)
        return len(rows) >= 2 and (h, rows)
    header, rows = wait_for(both, scaled(20), what="rows in custom.csv")
    assert header[0] == "type"
    # the union of both types' columns, in PowerMTA's order, then
    # userString and the header_ column
    assert "dsnMta" not in header and "orcpt" not in header, header
    assert header[-2:] == ["userString", "header_Message-Id"], header
    assert header.index("timeLogged") < header.index("orig") < \
        header.index("rcpt") < header.index("bounceCat")
    [d] = [r for r in rows if r["type"] == "d"]
    [b] = [r for r in rows if r["type"] == "b"]
    assert d["rcpt"] == good and d["orig"] == SENDER
    assert d["dlvSourceIp"] == "127.0.0.1"
    # d did not select these: empty even though the record has them
    assert d["dsnStatus"] == "" and d["queue"] == "", d
    assert b["rcpt"] == bad
    assert b["dsnStatus"].startswith("5.1.1"), b
    assert b["bounceCat"] == "bad-mailbox", b
    assert b["queue"].startswith("example.test/"), b
    assert b["header_Message-Id"] == ""       # not known to bounced
    assert d["userString"] == b["userString"] == "campaign-7"
    # iso-times no: seconds since 1970
    assert d["timeLogged"].isdigit() and int(d["timeLogged"]) > 1.6e9, d
    # queue-filter other.test: nothing for example.test's queue
    assert _rows(other)[1] == []
