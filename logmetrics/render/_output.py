"""All-or-nothing writing of a set of report files.

Every file's bytes are produced in memory first, then written to a hidden temporary name in
the output directory, flushed to disk, and only when every file is on disk renamed into place.
A failure (disk full, permissions) removes the temporaries and raises ``OutputError`` naming the
file, so a cron run never leaves a half-written report for someone to mail.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from ..errors import OutputError


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


def _write_temp(target: Path, data: bytes) -> Path:
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def write_files(files: dict[Path, bytes]) -> list[Path]:
    """Write every ``path -> bytes`` atomically as a group; return the paths in the given order."""
    temps: list[tuple[Path, Path]] = []
    current: Path | None = None
    try:
        for target in files:
            current = target
            target.parent.mkdir(parents=True, exist_ok=True)
            temps.append((_write_temp(target, files[target]), target))
        for tmp, target in temps:
            current = target
            os.replace(tmp, target)
    except OSError as exc:
        for tmp, _ in temps:
            tmp.unlink(missing_ok=True)
        raise OutputError(f"{current}: cannot write report file: {_reason(exc)}") from exc
    return list(files)
