"""Discovery, transparent gzip and newline chunking (logmetrics.sources)."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import os
import zlib
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from unprivileged import run_python

from logmetrics import parse
from logmetrics.errors import InputError
from logmetrics.sources import (
    FINGERPRINT_BYTES,
    ByteStream,
    Chunk,
    Discovered,
    TruncatedGzip,
    discover,
    fingerprint,
    is_log_name,
    iter_chunks,
)

WHEN = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("name", "taken"),
    [
        ("access.log", True),
        ("access.log.1", True),
        ("access.log.2.gz", True),
        ("access.log-20240101", True),
        ("access.log-20240101.gz", True),
        ("access_log", True),
        ("access_log.3", True),
        ("other_vhosts_access.log", True),
        ("2023-01.gz", True),
        ("error.log", False),
        ("error.log.1.gz", False),
        (".access.log.swp", False),
        ("notes.txt", False),
        ("access.log.bak", False),
    ],
)
def test_directory_name_rule(name: str, taken: bool) -> None:
    """A directory contributes access-log-looking names, never error logs or hidden files."""
    assert is_log_name(name) is taken


def test_discover_file_dir_and_glob(tmp_path: Path) -> None:
    """Files are taken as given, directories by name (not recursively), globs expanded."""
    logs = tmp_path / "logs"
    (logs / "old").mkdir(parents=True)
    for name in ("access.log", "access.log.1", "error.log", "README"):
        (logs / name).write_bytes(b"x\n")
    (logs / "old" / "access.log").write_bytes(b"x\n")
    odd = tmp_path / "weird-name.txt"
    odd.write_bytes(b"x\n")
    assert discover([logs]) == Discovered([logs / "access.log", logs / "access.log.1"], [])
    assert discover([odd]).files == [odd]
    assert discover([str(logs / "access.log*")]).files == [
        logs / "access.log",
        logs / "access.log.1",
    ]
    assert discover([str(tmp_path / "**" / "access.log")]).files == [
        logs / "access.log",
        logs / "old" / "access.log",
    ]
    # the same file named twice is read once
    assert discover([logs / "access.log", str(logs / "access.*")]).files == [
        logs / "access.log",
        logs / "access.log.1",
    ]


def test_discover_errors_name_the_path(tmp_path: Path) -> None:
    """A missing path or a glob matching nothing is an InputError naming it."""
    with pytest.raises(InputError, match="nope.log: no such file"):
        discover([tmp_path / "nope.log"])
    with pytest.raises(InputError, match=r"\*\.gz: no file matches"):
        discover([str(tmp_path / "*.gz")])


_DISCOVER = """
import json, sys
from logmetrics.sources import discover
found = discover(sys.argv[1:])
print(json.dumps([[str(f) for f in found.files], [[str(u.path), u.reason] for u in found.unreadable]]))
"""


def test_discover_skips_what_it_cannot_read(tmp_path: Path) -> None:
    """Unreadable files (given, in a directory, matched by a glob) and directories that cannot
    be listed are returned as unreadable with the reason; the readable files are found."""
    logs, locked, hidden = tmp_path / "logs", tmp_path / "locked", tmp_path / "hidden"
    for d in (logs, locked, hidden):
        d.mkdir()
    for f in (logs / "access.log", logs / "access.log.1", logs / "b.log", hidden / "c.log"):
        f.write_bytes(b"x\n")
    (logs / "access.log.1").chmod(0)
    (logs / "b.log").chmod(0)
    locked.chmod(0)  # cannot be listed
    hidden.chmod(0o600)  # can be listed, but not searched: its files cannot be opened
    try:
        args = [str(logs), str(logs / "b.log"), str(locked), str(tmp_path / "hidden" / "*.log"),
                str(hidden / "c.log")]  # fmt: skip
        done = run_python(_DISCOVER, *args)
    finally:
        for d in (locked, hidden):
            d.chmod(0o755)
    assert done.returncode == 0, done.stderr
    files, unreadable = json.loads(done.stdout)
    assert files == [str(logs / "access.log")]
    assert unreadable == [
        [str(locked), "cannot list directory: permission denied"],
        [str(hidden / "c.log"), "cannot stat: permission denied"],
        [str(logs / "access.log.1"), "permission denied"],
        [str(logs / "b.log"), "permission denied"],
    ]


def _read(path: Path, **kw: int) -> bytes:
    with ByteStream(path) as s:
        return b"".join(s.blocks(**kw))


def test_gzip_members_padding_and_offsets(tmp_path: Path) -> None:
    """Concatenated gzip members read as one stream; zero padding is ignored; start skips."""
    a, b = b"first member\n" * 1000, b"second member\n" * 500
    f = tmp_path / "x.gz"
    f.write_bytes(gzip.compress(a) + gzip.compress(b) + b"\0" * 16)
    assert _read(f) == a + b
    assert _read(f, start=len(a) + 7) == (a + b)[len(a) + 7 :]
    plain = tmp_path / "x.log"
    plain.write_bytes(a)
    assert _read(plain, start=5) == a[5:]


def test_truncated_and_corrupt_gzip(tmp_path: Path) -> None:
    """A gzip cut inside a member raises TruncatedGzip; trailing junk is an InputError."""
    data = gzip.compress(os.urandom(5000))
    f = tmp_path / "x.gz"
    f.write_bytes(data[: len(data) // 2])
    with pytest.raises(TruncatedGzip):
        _read(f)
    with ByteStream(f) as s:
        head, eof = s.head()
    assert (len(head), eof) == (FINGERPRINT_BYTES, False)
    f.write_bytes(data + b"junk")
    with pytest.raises(InputError, match="trailing data"):
        _read(f)


def test_head_of_short_file(tmp_path: Path) -> None:
    """A file shorter than the fingerprint gives all its bytes and says it ended."""
    f = tmp_path / "a.log"
    f.write_bytes(b"short\n")
    with ByteStream(f) as s:
        assert s.head() == (b"short\n", True)


def _chunks(data: bytes, size: int, *, final: bool, block: int = 7, **kw: int) -> list:
    blocks = iter([data[i : i + block] for i in range(0, len(data), block)])
    return list(iter_chunks(blocks, start=0, first_line_no=1, chunk_bytes=size, final=final, **kw))


def test_chunks_end_on_newlines_and_hold_partial_line() -> None:
    """Chunks end after a newline, stay near the size, and a partial last line waits."""
    lines = [b"line %03d %s\n" % (i, b"x" * (i % 13)) for i in range(200)]
    data = b"".join(lines) + b"partial"
    chunks = _chunks(data, 100, final=False)
    assert b"".join(c.data for c in chunks) == b"".join(lines)
    assert all(bytes(c.data).endswith(b"\n") and len(c.data) <= 100 for c in chunks)
    assert sum(c.lines for c in chunks) == 200
    for prev, nxt in zip(chunks, chunks[1:], strict=False):
        assert (prev.end, prev.first_line_no + prev.lines) == (nxt.start, nxt.first_line_no)
    final = _chunks(data, 100, final=True)
    assert bytes(final[-1].data).endswith(b"partial") and final[-1].open_tail
    assert sum(c.lines for c in final) == 201


def test_chunks_the_reader_cuts_parse_line_for_line() -> None:
    """Chunks cut from a stream (lines with invalid UTF-8, a control byte, valid UTF-8, a
    last line without a newline) parse to the hits and rejects of their lines, numbered and
    placed in the whole stream."""
    line = b'1.2.3.4 - ana [10/Oct/2000:13:55:36 -0700] "GET /a?b=1 HTTP/1.1" 200 2 "-" "UA"\n'
    dirty = line.replace(b"UA", b"U\xff\xfeA") + b"junk\x01\n" + line.replace(b"ana", b"a\xc3\xb1a")
    data = line * 40 + dirty + line * 9 + b"\xff"
    chunks = _chunks(data, 1500, final=True, block=333)
    assert len(chunks) > 2
    parsed = []
    for c in chunks:
        kw = dict(source="s", file="f", first_line_no=c.first_line_no, base_offset=c.start)
        got = parse.parse_chunk(c.data, "combined", **kw, tz="UTC", ingested_at=WHEN)
        assert got.lines == c.lines
        parsed.append(got)
    rejects = pl.concat(p.rejects for p in parsed)
    assert rejects.select("line_no", "offset", "raw").rows() == [
        (42, 41 * len(line) + 2, "junk\\x01"),  # line 41 has two more bytes
        (53, len(data) - 1, "\\xFF"),
    ]
    hits = pl.concat(p.hits for p in parsed)
    assert hits.height == 51 and hits.get_column("line_no").to_list() == [
        *range(1, 42), *range(43, 53)
    ]
    assert "U\\xFF\\xFEA" in hits.get_column("user_agent").to_list()
    assert "aña" in hits.get_column("remote_user").to_list()


def test_chunks_split_at_and_long_lines() -> None:
    """No chunk straddles split_at; a line longer than a chunk is kept whole."""
    data = b"a" * 50 + b"\n" + b"b\n" * 10 + b"c" * 300 + b"\n"
    chunks = _chunks(data, 40, final=False, split_at=55)
    assert all(not (c.start < 55 < c.end) for c in chunks)
    assert b"".join(c.data for c in chunks) == data
    assert any(c.data == b"c" * 300 + b"\n" for c in chunks)


def test_chunk_checkpoint_uses_previous_content() -> None:
    """The checkpoint of a chunk covers the 1024 bytes before its end, across chunks."""
    data = b"".join(b"%04d\n" % i for i in range(1000))
    small = _chunks(data, 64, final=False)
    whole = _chunks(data, 1 << 20, final=False)
    assert small[-1].check == whole[-1].check


def _oracle(
    data: bytes, size: int, *, final: bool, split_at: int | None, tail: bytes, keep_data: bool
) -> list[Chunk]:
    """The chunks as the rule states them, computed on the whole content at once."""
    out, pos, prev, line_no = [], 0, tail[-FINGERPRINT_BYTES:], 1
    while pos < len(data):
        lim = min(size, split_at - pos) if split_at is not None and pos < split_at else size
        if len(data) - pos > lim:  # the last newline within the limit, else the first after
            nl = data.rfind(b"\n", pos, pos + lim)
            nl = nl if nl >= 0 else data.find(b"\n", pos + lim)
        else:
            nl = data.rfind(b"\n", pos)
        open_tail = nl < 0
        if open_tail and not final:
            break
        end = len(data) if open_tail else nl + 1
        body = data[pos:end]
        window = (prev + body[-FINGERPRINT_BYTES:])[-FINGERPRINT_BYTES:]
        lines = body.count(b"\n") + int(open_tail)
        out.append(Chunk(pos, end, line_no, lines, body if keep_data else b"",
                         fingerprint(window), open_tail,
                         None if keep_data else zlib.crc32(body)))  # fmt: skip
        pos, prev, line_no = end, window, line_no + lines
    return out


@settings(max_examples=300, deadline=None)
@given(
    lines=st.lists(st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"")), max_size=40),
    partial=st.binary(max_size=30).map(lambda b: b.replace(b"\n", b"")),
    block=st.integers(1, 64),
    size=st.integers(1, 120),
    split_line=st.none() | st.integers(0, 40),
    final=st.booleans(),
    keep_data=st.booleans(),
    tail=st.binary(max_size=1100),
)
def test_chunks_equal_the_rule_for_any_blocks(
    lines: list[bytes], partial: bytes, block: int, size: int, split_line: int | None,
    final: bool, keep_data: bool, tail: bytes,
) -> None:  # fmt: skip
    """However the content arrives in blocks, the chunks are the ones the cutting rule gives."""
    data = b"".join(line + b"\n" for line in lines) + partial
    split_at = None
    if split_line is not None:
        split_at = len(b"".join(line + b"\n" for line in lines[:split_line]))
    blocks = iter([data[i : i + block] for i in range(0, len(data), block)])
    got = list(iter_chunks(blocks, start=0, first_line_no=1, chunk_bytes=size, final=final,
                           tail=tail, split_at=split_at, keep_data=keep_data))  # fmt: skip
    assert got == _oracle(data, size, final=final, split_at=split_at, tail=tail,
                          keep_data=keep_data)  # fmt: skip
