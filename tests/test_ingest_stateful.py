"""Random write / rotate / compress / copytruncate / ingest sequences against a reference model.

The model is the list of every line the "web server" logged. After every ingest the warehouse
must hold each line at most once and nothing else, and every complete line the files on disk
hold (short files too: about 125 bytes a line, so a file of up to 8 lines has fewer than the
1024 bytes of a full fingerprint, and is grown, rotated, compressed and copytruncated like any
other); after a final ingest with everything complete it must hold each logged line exactly
once.
"""

from __future__ import annotations

import datetime as dt
import gzip
import re
import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, precondition, rule
from ingest_helpers import (
    T0,
    append,
    combined_line,
    copytruncate,
    expected_uris,
    run_ingest,
    uris,
)

_NAME = re.compile(r"^access\.log(?:\.(\d+))?(\.gz)?$")


class RotatingLogs(RuleBasedStateMachine):
    """A log directory that logrotate and nginx keep changing, ingested now and then."""

    def __init__(self) -> None:
        super().__init__()
        self.root = Path(tempfile.mkdtemp(prefix="logmetrics-stateful-"))
        self.logs = self.root / "logs"
        self.logs.mkdir()
        self.store = self.root / "wh"
        self.current = self.logs / "access.log"
        self.current.touch()
        self.seq = 0
        self.logged: list[bytes] = []  # complete lines written, in order
        self.pending: bytes | None = None  # the rest of a half-written line
        self.compressing: tuple[Path, Path, bytes] | None = None  # plain, .gz, full gzip
        self.ingests = 0

    # -- the web server --

    def _new_line(self) -> bytes:
        line = combined_line(self.seq, T0 + self.seq * dt.timedelta(seconds=41), tag="s")
        self.seq += 1
        return line

    def _finish_line(self) -> None:
        if self.pending is not None:
            append(self.current, [self.pending])
            self.pending = None

    @rule(n=st.integers(1, 25))
    def write(self, n: int) -> None:
        self._finish_line()
        lines = [self._new_line() for _ in range(n)]
        append(self.current, lines)
        self.logged += lines

    @precondition(lambda self: self.pending is None)
    @rule(cut=st.integers(1, 200))
    def write_partial_line(self, cut: int) -> None:
        line = self._new_line()
        k = cut % (len(line) - 1) + 1
        append(self.current, [line[:k]])
        self.pending = line[k:]
        self.logged.append(line)

    # -- logrotate --

    def _rotated(self) -> dict[int, Path]:
        out = {}
        for p in self.logs.iterdir():
            m = _NAME.match(p.name)
            if m and m.group(1):
                out[int(m.group(1))] = p
        return out

    def _shift(self) -> None:
        for idx, path in sorted(self._rotated().items(), reverse=True):
            path.rename(self.logs / f"access.log.{idx + 1}{'.gz' if path.suffix == '.gz' else ''}")

    @precondition(lambda self: self.compressing is None)
    @rule()
    def rotate(self) -> None:
        """Rename rotation; the server finishes its half-written line before reopening."""
        self._finish_line()
        self._shift()
        self.current.rename(self.logs / "access.log.1")
        self.current.touch()

    @precondition(lambda self: self.compressing is None)
    @rule()
    def copytruncate(self) -> None:
        self._finish_line()
        self._shift()
        copytruncate(self.current, self.logs / "access.log.1")

    @precondition(
        lambda self: (
            self.compressing is None and any(p.suffix != ".gz" for p in self._rotated().values())
        )
    )
    @rule(interrupted=st.booleans())
    def compress(self, interrupted: bool) -> None:
        """gzip the oldest plain rotated file; ``interrupted`` leaves the .gz half-written."""
        idx, plain = max((i, p) for i, p in self._rotated().items() if p.suffix != ".gz")
        gz = self.logs / f"access.log.{idx}.gz"
        blob = gzip.compress(plain.read_bytes())
        if interrupted:
            gz.write_bytes(blob[: len(blob) // 2])
            self.compressing = (plain, gz, blob)
        else:
            gz.write_bytes(blob)
            plain.unlink()

    @precondition(lambda self: self.compressing is not None)
    @rule()
    def finish_compress(self) -> None:
        assert self.compressing is not None
        plain, gz, blob = self.compressing
        gz.write_bytes(blob)
        plain.unlink()
        self.compressing = None

    # -- the nightly ingest --

    def _complete_lines_on_disk(self) -> list[bytes]:
        """The complete lines of every file in the directory (none of a .gz being written)."""
        lines: list[bytes] = []
        for path in self.logs.iterdir():
            data = path.read_bytes()
            if path.suffix == ".gz":
                try:
                    data = gzip.decompress(data)
                except EOFError:  # still being written
                    continue
            lines += data[: data.rfind(b"\n") + 1].splitlines(keepends=True)
        return lines

    @rule(chunk=st.sampled_from([200, 1500, 1 << 20]))
    def ingest(self, chunk: int) -> None:
        summary = run_ingest([self.logs], self.store, chunk_bytes=chunk)
        self.ingests += 1
        assert summary.lines_rejected == 0
        got = uris(self.store)
        assert len(got) == len(set(got)), "a line was stored twice"
        assert set(got) <= set(expected_uris(self.logged)), "a line nobody logged"
        on_disk = set(expected_uris(self._complete_lines_on_disk()))
        assert on_disk <= set(got), "a complete line was left waiting"

    def teardown(self) -> None:
        try:
            if self.ingests:
                self._finish_line()
                if self.compressing:
                    self.finish_compress()
                run_ingest([self.logs], self.store, final=True)
                assert uris(self.store) == expected_uris(self.logged)
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


RotatingLogs.TestCase.settings = settings(
    max_examples=40,
    stateful_step_count=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestRotatingLogs = RotatingLogs.TestCase
