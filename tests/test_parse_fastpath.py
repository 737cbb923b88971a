"""The speed-ups of parse_chunk change nothing: they equal the plain (slower) code paths.

* dirty lines (non-UTF-8, control bytes) are cleaned one by one instead of the whole chunk;
* the compiled walk splits the lines between threads (``threads=3``).

The plain paths are the whole-chunk cleaning (through the module knobs) and one thread; the
frames are compared on a mixed sample: the corpus lines and generated lines with long fields,
escapes, odd bytes and CRs.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

import logmetrics.parse as parse_mod
from logmetrics.formats import compile_format
from logmetrics.parse import match_groups, parse_chunk
from tests.corpus import parse_cases as CASES

WHEN = datetime(2022, 4, 1, 6, 0, tzinfo=UTC)


ODD = [b"\xe9", b"\xff\xfe", b"\x00", b"\x01", b"\x1b[31m", b"\xc3\xa9", b"\xe2\x80", b"\r",
       b"\x7f", b"\xe2\x80\xa8", b"\t"]  # fmt: skip
PIECES = ["a", "-", "?", "=", "&", "/", " ", '\\"', "\\\\", "\\x41", "\\xE9", "é", ".", "%20", "7"]


def _text(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(PIECES) for _ in range(n))


def _generated(rng: random.Random, count: int) -> list[bytes]:
    """Combined-format lines whose fields cross the 16/32/64-byte search steps."""
    out = []
    for i in range(count):
        ip = rng.choice(["10.0.0.1", "2001:db8:85a3:0:0:8a2e:370:7334", "::1", "-", "1.2.3.4" * 9])
        user = rng.choice(["-", "ana", "x" * rng.randint(1, 90), "\\xE9" * rng.randint(1, 30)])
        if rng.random() < 0.05:
            user = _text(rng, rng.randint(0, 20))
        path = "/" + "p" * rng.randint(0, 150)
        if rng.random() < 0.5:
            path = path[: rng.randint(0, len(path))] + "?" + _text(rng, rng.randint(0, 40))
        method = rng.choice(["GET", "POST", "PROPFIND", "BREW", "-", ""])
        request = rng.choice(
            [f"{method} {path} HTTP/1.1", f"{method} {path}", "-", "", f"{method} {path} HTTP/2"]
        )
        ts = rng.choice(
            ["10/Mar/2022:10:15:32 -0500"] * 8 + ["31/Feb/2022:00:00:00 +0000",
             "10/MAR/2022:10:15:32 -0500", "10/Mar/2022:10:15:32 +2400", "10/Mar/2022:10:15:3"]
        )  # fmt: skip
        status = rng.choice(["200", "404", "-", "200", "304"] * 5 + ["2000", "abc", "0200"])
        size = rng.choice(["512", "-", "0", "512", "7"] * 5 + ["123456789012", "1x"])
        ref = rng.choice(["-", "https://a.pe/" + _text(rng, rng.randint(0, 80))])
        ua = rng.choice(["-", "Mozilla/5.0 " + _text(rng, rng.randint(0, 120)), ""])
        line = f'{ip} - {user} [{ts}] "{request}" {status} {size} "{ref}" "{ua}"'.encode()
        if rng.random() < 0.2:  # raw odd bytes somewhere
            at = rng.randint(0, len(line))
            line = line[:at] + rng.choice(ODD) + line[at:]
        if rng.random() < 0.05:
            line = line[: rng.randint(0, len(line))]  # cut by its writer
        if i % 97 == 0:
            line += b"\r"
        out.append(line)
    return out


def _chunks() -> list[tuple[str, bytes]]:
    by_fmt: dict[str, list[bytes]] = {}
    for case in CASES.LINES:
        by_fmt.setdefault(case["fmt"], []).append(case["line"])
    rng = random.Random(20220301)
    by_fmt.setdefault("combined", []).extend(_generated(rng, 3000))
    out = []
    for fmt, lines in by_fmt.items():
        rng.shuffle(lines)
        out.append((fmt, b"\n".join(lines) + b"\n"))
        out.append((fmt, b"\n".join(lines)))  # no final newline
    out.extend((c["fmt"], c["data"]) for c in CASES.CHUNKS)
    return out


CHUNKS = _chunks()


def _parse(fmt: str, data: bytes, threads: int = 1):
    return parse_chunk(data, compile_format(fmt), source="s", file="f", first_line_no=3,
                       base_offset=17, ingested_at=WHEN, threads=threads)  # fmt: skip


def _plain(monkeypatch: pytest.MonkeyPatch) -> None:
    """The code path before the speed-up: clean the whole chunk."""
    monkeypatch.setattr(parse_mod, "_CLEAN_LINES", -1)
    monkeypatch.setattr(parse_mod, "_CLEAN_SHARE", 1 << 62)


@pytest.mark.parametrize(
    ("fmt", "data"), CHUNKS, ids=[f"{f}-{i}" for i, (f, _) in enumerate(CHUNKS)]
)
def test_fast_paths_equal_the_plain_paths(monkeypatch, fmt, data):
    """Hits and rejects (schemas, values, line numbers, offsets, reasons) are identical."""
    monkeypatch.setattr(parse_mod, "_CLEAN_LINES", 1 << 62)  # always clean line by line
    fast = _parse(fmt, data, threads=3)
    fast_groups = match_groups(data, fmt)
    _plain(monkeypatch)
    plain = _parse(fmt, data)
    assert fast.lines == plain.lines
    assert fast.hits.schema == plain.hits.schema
    assert fast.rejects.schema == plain.rejects.schema
    assert fast.hits.equals(plain.hits)
    assert fast.rejects.equals(plain.rejects)
    assert fast_groups.equals(match_groups(data, fmt))


def test_sample_exercises_every_path():
    """The generated sample has hits, rejects, escapes, dirty and long-field lines."""
    fmt, data = next((f, d) for f, d in CHUNKS if f == "combined" and d.endswith(b"\n"))
    r = _parse(fmt, data)
    assert r.hits.height > 1000 and r.rejects.height > 300
    assert r.hits["user_agent"].str.contains('"', literal=True).any()
    assert r.hits["remote_user"].str.contains("\\x", literal=True).any()
    assert (r.hits["uri"].str.len_bytes() > 64).any()
    assert (r.hits["remote_user"].str.len_bytes() > 64).any()
