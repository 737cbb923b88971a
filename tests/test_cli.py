"""The command line contract: one line on stderr per error, its exit code, nothing written."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from logmetrics.cli import main


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "logmetrics", *args],
        capture_output=True, text=True, cwd=cwd, timeout=120,
    )  # fmt: skip


def test_help_lists_commands() -> None:
    """`logmetrics --help` names the three commands."""
    out = run("--help")
    assert out.returncode == 0
    for cmd in ("ingest", "report", "demo"):
        assert cmd in out.stdout


@pytest.mark.parametrize("month", ["2022-13", "March", "22-03", "2022-3"])
def test_bad_month(tmp_path: Path, month: str, capsys: pytest.CaptureFixture[str]) -> None:
    """A malformed --month is a configuration error (exit 2) naming the option."""
    code = main(["report", "--month", month, "--warehouse", str(tmp_path), "--out",
                 str(tmp_path / "o")])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and "--month" in err and err.count("\n") == 1
    assert not (tmp_path / "o").exists()


def test_missing_warehouse(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Reporting from a store that does not exist exits 3 naming it, writing nothing."""
    allies = tmp_path / "a.csv"
    allies.write_text("usuario,tipo,ubigeo,entidad\nana,GR,080000,Gobierno Regional de Cusco\n",
                      encoding="utf-8")  # fmt: skip
    code = main(["report", "--month", "2022-03", "--warehouse", str(tmp_path / "nope"),
                 "--allies", str(allies), "--out", str(tmp_path / "o")])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 3 and "nope" in err and err.count("\n") == 1
    assert not (tmp_path / "o").exists()


def test_bad_config_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A config with an unknown key exits 2 and names the key."""
    cfg = tmp_path / "c.toml"
    cfg.write_text("colour = 'blue'\n", encoding="utf-8")
    code = main(["report", "--month", "2022-03", "--config", str(cfg), "--warehouse",
                 str(tmp_path)])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and "colour" in err and str(cfg) in err
