"""The compiled parse: cached where its user alone can write, loaded without numba, and a
missing, stale or damaged cache means compiling again, never a failure."""

from __future__ import annotations

import json
import os
import stat
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

from logmetrics import _walk
from logmetrics._walk import _private, cache_dirs, undefined_symbols

ROOT = Path(__file__).resolve().parent.parent

_LINE = b'1.2.3.4 - bob [10/Oct/2000:13:55:36 -0700] "GET /a?b=1 HTTP/1.1" 200 2\n'
_PARSE = (
    "import sys, warnings; warnings.simplefilter('error');"
    "from logmetrics.parse import parse_chunk;"
    f"r = parse_chunk({_LINE!r}, 'common', source='s', file='f', first_line_no=1, base_offset=0);"
    "h = r.hits.row(0, named=True);"
    "print(h['remote_user'], h['path'], h['query'], h['status'], h['ts'].isoformat(),"
    " 'numba' in sys.modules)"
)
_EXPECTED = "bob /a b=1 200 2000-10-10T20:55:36+00:00"


def _run(cache: Path, code: str = _PARSE) -> str:
    env = {**os.environ, "LOGMETRICS_CACHE_DIR": str(cache)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300, cwd=ROOT, env=env)  # fmt: skip
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_operator_setting_comes_first(tmp_path: Path) -> None:
    """LOGMETRICS_CACHE_DIR is tried before anything else."""
    assert cache_dirs(tmp_path, {"LOGMETRICS_CACHE_DIR": "/x"})[0] == Path("/x")


def test_writable_install_caches_next_to_the_code(tmp_path: Path) -> None:
    """A writable install keeps the code in its own __pycache__."""
    assert cache_dirs(tmp_path, {"HOME": str(tmp_path)})[0] == tmp_path / "__pycache__"


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_read_only_install_uses_the_users_cache(tmp_path: Path) -> None:
    """A root-owned install run by another user caches under that user's ~/.cache."""
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    pkg.chmod(stat.S_IRUSR | stat.S_IXUSR)
    home = tmp_path / "home"
    home.mkdir()
    try:
        assert cache_dirs(pkg, {"HOME": str(home)})[0] == home / ".cache" / "logmetrics"
    finally:
        pkg.chmod(stat.S_IRWXU)


def test_nothing_writable_falls_back_to_temp() -> None:
    """With no writable package dir nor home, a per-user temp directory is the choice."""
    got = cache_dirs(Path("/proc/1"), {"HOME": "/proc/1"})  # unwritable even for root
    assert got == [Path(tempfile.gettempdir()) / f"logmetrics-cache-{os.getuid()}"]


def test_only_a_directory_nobody_else_can_write_is_used(tmp_path: Path) -> None:
    """Machine code is read only from a directory the user owns and others cannot write."""
    mine = tmp_path / "mine"
    assert _private(mine) and stat.S_IMODE(mine.stat().st_mode) == 0o700
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    assert not _private(shared)
    if os.geteuid() == 0:
        theirs = tmp_path / "theirs"
        theirs.mkdir(mode=0o700)
        os.chown(theirs, 65534, 65534)
        assert not _private(theirs)


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache file written by a first run (which compiles with numba)."""
    cache = tmp_path_factory.mktemp("cache")
    assert _run(cache) == _EXPECTED + " True"
    (path,) = cache.glob("kernels-*.bin")
    return path


def _copy(path: Path, to: Path) -> Path:
    (to / path.name).write_bytes(path.read_bytes())
    return to / path.name


def test_cached_code_needs_nothing_but_libc(compiled: Path) -> None:
    """What the cache holds links against libc alone (numba's own objects need its runtime)."""
    data = compiled.read_bytes()
    (length,) = struct.unpack_from("<Q", data, len(_walk._MAGIC))
    body = len(_walk._MAGIC) + 8 + length
    header = json.loads(data[len(_walk._MAGIC) + 8 : body])
    assert set(header["entries"]) == set(_walk._ARITY)
    for _, start, size in header["entries"].values():
        obj = data[body + start : body + start + size]
        assert undefined_symbols(obj) <= {"memset", "memcpy", "memmove"}


def test_a_new_process_parses_without_importing_numba(compiled: Path, tmp_path: Path) -> None:
    """Once compiled, a new process maps the cached code: numba is never imported."""
    _copy(compiled, tmp_path)
    assert _run(tmp_path) == _EXPECTED + " False"


def test_damaged_or_stale_files_are_not_loaded(compiled: Path, tmp_path: Path) -> None:
    """A flipped bit, garbage or another key: the file is refused before the linker sees it."""
    key = compiled.name.removeprefix("kernels-").removesuffix(".bin")
    good = _copy(compiled, tmp_path)
    assert _walk._load(good, key) is not None
    assert _walk._load(good, "another-key") is None
    data = bytearray(good.read_bytes())
    data[-100] ^= 0xFF
    good.write_bytes(bytes(data))
    assert _walk._load(good, key) is None
    good.write_bytes(_walk._MAGIC + b"\xff" * 40)
    assert _walk._load(good, key) is None
    good.write_bytes(b"")
    assert _walk._load(good, key) is None


def test_damaged_cache_compiles_again(compiled: Path, tmp_path: Path) -> None:
    """A run that finds the cache damaged compiles, parses right, and writes it anew."""
    path = _copy(compiled, tmp_path)
    data = bytearray(path.read_bytes())
    data[-100] ^= 0xFF
    path.write_bytes(bytes(data))
    assert _run(tmp_path) == _EXPECTED + " True"
    assert path.read_bytes() == compiled.read_bytes()
    assert _run(tmp_path) == _EXPECTED + " False"


def test_unusable_cache_directory_still_parses(tmp_path: Path) -> None:
    """A cache directory others can write is not used (nor written): the parse still runs."""
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    assert _run(shared).startswith(_EXPECTED)
    assert not list(shared.glob("kernels-*.bin"))


def test_parse_runs_for_a_user_who_cannot_write_the_install() -> None:
    """Run as nobody (no home, read-only install): parsing works, cached in a temp dir."""
    if os.geteuid() != 0:
        pytest.skip("needs root to run a process as nobody")
    for d in [*Path(os.path.realpath(sys.executable)).parents, *ROOT.parents, ROOT]:
        if not d.stat().st_mode & stat.S_IXOTH:
            pytest.skip(f"{d} is not searchable by other users (the interpreter or the code)")
    env = {k: v for k, v in os.environ.items() if k != "LOGMETRICS_CACHE_DIR"}
    env.update(HOME="/nonexistent", PYTHONPATH=str(ROOT))
    out = subprocess.run(
        [sys.executable, "-c", _PARSE], env=env, capture_output=True, text=True, timeout=300,
        cwd="/", user=65534, group=65534, extra_groups=[],
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(_EXPECTED)
    assert list((Path(tempfile.gettempdir()) / "logmetrics-cache-65534").glob("kernels-*.bin"))


@pytest.mark.parametrize("near", [b"x", b"\x0b", b"\x8a", b"\x09", b"\n"])
def test_newline_count_is_exact_at_every_length_and_position(near: bytes) -> None:
    """The word-at-a-time count equals ``bytes.count``: any size, newline at any byte of a word,
    next to bytes one bit away from a newline (a carry between bytes would miscount them)."""
    for size in range(0, 34):
        for at in range(size):
            data = bytearray(near * size)
            data[at] = 10
            for blob in (bytes(data), bytes(data[1:]), memoryview(bytes(data))[3:]):
                assert _walk.count_newlines(blob) == bytes(blob).count(b"\n")


def test_scan_flags_exactly_the_lines_holding_a_backslash() -> None:
    """The scan's per-line backslash flags match the lines' bytes: a backslash at any byte of a
    word, next to a newline, a control or a byte >= 0x80, and in an unterminated last line."""
    for size in range(1, 26):
        for at in range(size):
            for other in (b"\n", b"\x01", b"\xc3", b"a"):
                data = bytearray(b"xy\n" * size)[:size]
                data[at] = 92
                data[(at + 1) % size] = other[0]
                nl, _, flags = _walk.scan(np.frombuffer(bytes(data), np.uint8), len(data))
                lines = bytes(data).split(b"\n")
                assert len(flags) == len(nl) + 1 == len(lines)
                assert flags.tolist() == [b"\\" in line for line in lines], (data, flags)
