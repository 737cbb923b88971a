"""Where the compiled parse is cached: somewhere writable for whoever runs logmetrics."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from logmetrics._walk import cache_dir


def test_default_cache_when_the_package_is_writable(tmp_path: Path) -> None:
    """A writable install keeps numba's own choice (__pycache__ next to the code)."""
    assert cache_dir(tmp_path, {"HOME": str(tmp_path)}) is None


def test_operator_setting_wins(tmp_path: Path) -> None:
    """NUMBA_CACHE_DIR set by the operator is left alone."""
    assert cache_dir(Path("/nonexistent"), {"NUMBA_CACHE_DIR": "/x"}) is None


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_read_only_install_uses_the_users_cache(tmp_path: Path) -> None:
    """A root-owned install run by another user caches under that user's ~/.cache."""
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    pkg.chmod(stat.S_IRUSR | stat.S_IXUSR)
    home = tmp_path / "home"
    home.mkdir()
    try:
        assert cache_dir(pkg, {"HOME": str(home)}) == str(home / ".cache" / "logmetrics" / "numba")
    finally:
        pkg.chmod(stat.S_IRWXU)


def test_nothing_writable_falls_back_to_temp(tmp_path: Path) -> None:
    """With no writable package dir nor home, a per-user temp directory is used."""
    got = cache_dir(Path("/proc/1"), {"HOME": "/proc/1"})  # unwritable even for root
    assert got is not None and got.startswith(os.path.join(os.sep, "tmp"))


def test_parse_runs_for_a_user_who_cannot_write_the_install() -> None:
    """Run as nobody (no home, read-only install): parsing works, cached in a temp dir."""
    if os.geteuid() != 0:
        pytest.skip("needs root to run a process as nobody")
    root = Path(__file__).resolve().parent.parent
    for d in [*Path(os.path.realpath(sys.executable)).parents, *root.parents, root]:
        if not d.stat().st_mode & stat.S_IXOTH:
            pytest.skip(f"{d} is not searchable by other users (the interpreter or the code)")
    code = (
        "import os, warnings; warnings.simplefilter('error');"
        "from logmetrics.parse import parse_chunk;"
        "r = parse_chunk(b'1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.1\" 200 2\\n',"
        " 'common', source='s', file='f', first_line_no=1, base_offset=0);"
        "print(r.hits.height, os.environ['NUMBA_CACHE_DIR'])"
    )
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env.update(HOME="/nonexistent", PYTHONPATH=str(root))
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300,
        cwd="/", user=65534, group=65534, extra_groups=[],
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    hits, where = out.stdout.split()
    assert hits == "1"
    assert where == os.path.join(tempfile.gettempdir(), "logmetrics-numba-65534")


_LINE = b'1.2.3.4 - bob [10/Oct/2000:13:55:36 -0700] "GET /a?b=1 HTTP/1.1" 200 2\n'
_PARSE = (
    "import sys, warnings; warnings.simplefilter('error');"
    "from logmetrics.parse import parse_chunk;"
    f"r = parse_chunk({_LINE!r}, 'common', source='s', file='f', first_line_no=1, base_offset=0);"
    "h = r.hits.row(0, named=True);"
    "print(h['remote_user'], h['path'], h['query'], h['status'], h['ts'].isoformat(),"
    " 'numba.np.arraymath' in sys.modules)"
)
_EXPECTED = "bob /a b=1 200 2000-10-10T20:55:36+00:00"


def _run(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300, cwd=Path(__file__).resolve().parent.parent)  # fmt: skip
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_cached_code_loads_without_numbas_full_set_up() -> None:
    """With the code cached, a new process parses without refreshing numba's contexts."""
    _run(_PARSE)  # compiles (and caches) the kernels if this checkout has not yet
    assert _run(_PARSE) == _EXPECTED + " False"


def test_numba_internals_failing_fall_back_to_normal_dispatch() -> None:
    """If the direct load breaks (numba changed), the parse still runs through numba's dispatch."""
    broken = "import numba.core.runtime as r; r.rtsys = None;"  # as if it had moved
    assert _run(broken + _PARSE) == _EXPECTED + " True"
