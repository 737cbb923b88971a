"""The allies lookup table: which user account belongs to which ally, plus INEI place names.

The table is kept by hand in Excel, so it is *read* leniently (CSV or XLSX, headers in any case,
with or without BOM, ``;`` or tab separators, Latin-1/Windows-1252 exports, ubigeo codes that
Excel turned into numbers) but *validated* strictly: every problem is collected with its
spreadsheet row number (header = row 1) and raised once as :class:`AlliesError`, so the
operator fixes the whole table in one pass and nothing is rendered from a half-right table.

Rules beyond SPEC, decided here:

- A row that repeats an account with the same ally and tipo is a harmless duplicate: it is
  dropped (the first row is kept). Only contradictions are errors.
- An ally is (``ubigeo``, ``entidad``) where ``entidad`` is compared case-insensitively with runs
  of spaces collapsed, because "Municipalidad de X" and "MUNICIPALIDAD  DE X" in one ubigeo are
  one ally typed twice; the spelling of its first row is the one reported.
- Blank rows are skipped; extra columns are ignored; a CSV's ``sep=;`` line is obeyed.
- Cell text is never evaluated: a CSV cell ``=HYPERLINK(...)`` is text; an XLSX formula gives
  its cached value, or its formula text when the file carries none (files written by scripts).
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import io
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from ._resources import resource_dir
from .config import normalize_user  # the same key the logs' user names get
from .errors import AlliesError, InputError, LogmetricsError, TableProblem

TIPOS = ("GR", "GL", "OA")
#: Required headers (matched trimmed and case-insensitively); other columns are ignored.
COLUMNS = ("usuario", "tipo", "ubigeo", "entidad")
#: One row per user account, in table order.
ALLIES_SCHEMA: dict[str, Any] = {
    "usuario": pl.Utf8,  # join key: trimmed, case-folded
    "usuario_original": pl.Utf8,  # trimmed, case as typed
    "tipo": pl.Utf8,  # GR / GL / OA
    "ubigeo": pl.Utf8,  # six digits
    "entidad": pl.Utf8,
    "region": pl.Utf8,
    "provincia": pl.Utf8,  # "" for a region-level ubigeo
    "distrito": pl.Utf8,  # "" for a region- or province-level ubigeo
    "row": pl.Int64,  # spreadsheet row of the account's first row
}
#: One row per ally (``allies_frame``).
ALLY_COLUMNS = ("ubigeo", "entidad", "tipo", "region", "provincia", "distrito")

_XLSX_SUFFIXES = frozenset({".xlsx", ".xlsm"})
_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # legacy .xls
_UTF8_BOM = b"\xef\xbb\xbf"
_DELIMITERS = (",", ";", "\t", "|")
_UBIGEO_RE = re.compile(r"([0-9]{5,6})(?:\.0*)?")  # 10101 / 10101.0: Excel ate the leading 0
_SEP_HINT = re.compile(r"sep=([^\r\n\"])(?:\r\n|\r|\n)")
_ANONYMOUS = "-"  # what the logs write for "no user"


# --- the INEI catalogue ----------------------------------------------------------------------


def ubigeo_path() -> Path:
    """The shipped catalogue (see ``logmetrics/data/README.md`` for its source and counts)."""
    return resource_dir("data") / "ubigeo_inei.csv"


@functools.cache
def _catalogue_rows() -> tuple[tuple[str, str, str, str, str], ...]:
    path = ubigeo_path()
    try:
        with path.open(encoding="utf-8", newline="") as fh:
            rows = [
                (r["ubigeo"], r["region"], r["provincia"], r["distrito"], r["nivel"])
                for r in csv.DictReader(fh)
            ]
    except (OSError, UnicodeDecodeError, KeyError, csv.Error) as exc:
        raise LogmetricsError(
            f"{path}: cannot read the INEI ubigeo catalogue ({_one_line(exc)}); reinstall logmetrics"
        ) from None
    return tuple(rows)


def load_ubigeo() -> pl.DataFrame:
    """The INEI catalogue: ``ubigeo, region, provincia, distrito, nivel``, one row per code.

    ``nivel`` is ``region`` (``DD0000``), ``provincia`` (``DDPP00``) or ``distrito``; names
    below the code's level are "". Read once per process (the frame is shared: don't mutate it).
    """
    return _ubigeo_frame()


@functools.cache
def _ubigeo_frame() -> pl.DataFrame:
    names = ("ubigeo", "region", "provincia", "distrito", "nivel")
    rows = _catalogue_rows()
    return pl.DataFrame(
        {name: [r[i] for r in rows] for i, name in enumerate(names)},
        schema={name: pl.Utf8 for name in names},
    )


@functools.cache
def _names() -> dict[str, tuple[str, str, str]]:
    return {r[0]: (r[1], r[2], r[3]) for r in _catalogue_rows()}


def normalize_ubigeo(value: str | int) -> str | None:
    """Six-digit code from a cell, restoring the leading zero Excel drops; None if not a code."""
    m = _UBIGEO_RE.fullmatch(str(value).strip())
    return m.group(1).zfill(6) if m else None


def place_names(ubigeo: str | int) -> tuple[str, str, str]:
    """(Región, Provincia, Distrito) of a code; a region code fills only Región, a province code
    Región and Provincia (the others are ""). Raises KeyError, like a mapping, if unknown."""
    code = normalize_ubigeo(ubigeo)
    names = _names().get(code or "")
    if names is None:
        raise KeyError(f"ubigeo {ubigeo!r} is not in the INEI catalogue")
    return names


# --- reading ---------------------------------------------------------------------------------


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def _show(value: str, *, limit: int = 60) -> str:
    """A cell value quoted for a one-line message (repr escapes newlines and control chars)."""
    return repr(value if len(value) <= limit else value[:limit] + "…")


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path}: allies table not found") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory, not an allies table") from None
    except OSError as exc:
        raise InputError(
            f"{path}: cannot read the allies table: {_one_line(exc.strerror or exc)}"
        ) from None


def _decode(data: bytes, *, path: Path) -> str:
    """UTF-8 (BOM or not) when it decodes, else what Excel on Windows writes: Windows-1252."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):  # Excel's "Unicode text" export
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            raise InputError(f"{path}: starts with a UTF-16 mark but is not UTF-16 text") from None
    if data.startswith(_UTF8_BOM):
        data = data[len(_UTF8_BOM) :]
    for encoding in ("utf-8", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")  # cp1252 leaves five bytes undefined; Latin-1 has them all


def _header_key(cell: str) -> str:
    return cell.strip().lstrip("\ufeff").strip().casefold()


def _sniff_delimiter(text: str) -> str:
    """The separator that makes the first non-blank line name the most required columns."""
    first = next((line for line in text.splitlines() if line.strip()), "")
    best, best_score = ",", (-1, -1)
    for delimiter in _DELIMITERS:
        try:
            cells = next(csv.reader([first], delimiter=delimiter), [])
        except csv.Error:
            continue
        score = (sum(_header_key(c) in COLUMNS for c in cells), len(cells))
        if score > best_score:
            best, best_score = delimiter, score
    return best


def _read_csv(data: bytes, *, path: Path) -> list[list[str]]:
    text = _decode(data, path=path)
    hint = _SEP_HINT.match(text)
    if hint:  # Excel's "sep=;" first line: it obeys it and does not show it as a row
        delimiter, text = hint.group(1), text[hint.end() :]
    else:
        delimiter = _sniff_delimiter(text)
    records: list[list[str]] = []
    try:
        for record in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter):
            records.append(record)
    except (csv.Error, ValueError, TypeError) as exc:  # newer Pythons refuse odd delimiters
        row = len(records) + 1
        raise AlliesError(str(path), [TableProblem(row, f"unreadable CSV: {_one_line(exc)}")]) from None
    return records


def _cell_text(value: Any) -> str:
    """An XLSX cell as the text a user would have typed (integral floats lose their ``.0``)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, dt.datetime | dt.date | dt.time | dt.timedelta):
        return str(value)
    text = getattr(value, "text", None)  # openpyxl ArrayFormula
    return text if isinstance(text, str) else str(value)


def _sheet_cells(data: bytes, *, data_only: bool) -> list[list[tuple[Any, bool]]]:
    """(value, is_formula) per cell of the first worksheet, one list per spreadsheet row."""
    import openpyxl  # slow import, only XLSX tables need it

    wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=data_only)
    try:
        if not wb.worksheets:
            return []
        ws = wb.worksheets[0]
        ws.reset_dimensions()  # some writers store a wrong <dimension>; read every row
        return [[(c.value, c.data_type == "f") for c in row] for row in ws.iter_rows()]
    finally:
        wb.close()


def _read_xlsx(data: bytes, *, path: Path) -> list[list[str]]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # openpyxl's notes on styles/extensions don't matter
            cells = _sheet_cells(data, data_only=False)
            cached = None
            if any(is_formula for row in cells for _, is_formula in row):
                cached = _sheet_cells(data, data_only=True)
    except Exception as exc:  # a corrupt zip/XML raises many kinds; all mean "unreadable"
        raise InputError(
            f"{path}: cannot read the XLSX file: {type(exc).__name__}: {_one_line(exc)}"[:300]
        ) from None
    records: list[list[str]] = []
    for i, row in enumerate(cells):
        record = []
        for j, (value, is_formula) in enumerate(row):
            if is_formula and cached is not None and i < len(cached) and j < len(cached[i]):
                value = value if cached[i][j][0] is None else cached[i][j][0]
            record.append(_cell_text(value))
        records.append(record)
    return records


def _read_records(path: Path) -> list[list[str]]:
    data = _read_bytes(path)
    if data.startswith(_ZIP_MAGIC):
        return _read_xlsx(data, path=path)
    if data.startswith(_OLE_MAGIC):
        raise InputError(f"{path}: a legacy Excel 97-2003 file; save it as .xlsx or CSV (UTF-8)")
    if path.suffix.lower() in _XLSX_SUFFIXES:
        raise InputError(f"{path}: not a valid XLSX file (not a zip archive)")
    return _read_csv(data, path=path)


# --- validation ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Seen:
    row: int
    ubigeo: str
    entidad: str
    tipo: str


def _entity_key(entidad: str) -> str:
    return " ".join(entidad.split()).casefold()


class _Problems:
    """The table's problems, gathered as they are found, raised together in row order."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.found: list[TableProblem] = []

    def __call__(self, row: int, text: str) -> None:
        self.found.append(TableProblem(row, text))

    def raise_any(self) -> None:
        if self.found:  # sorted stably: a row's problems stay in column order
            raise AlliesError(self.path, sorted(self.found, key=lambda p: p.row))


def _header(records: Sequence[Sequence[str]], problem: _Problems) -> tuple[int, dict[str, int]]:
    """The header's index and each required column's position (missing or repeated ones are
    problems of the header row)."""
    header_at = next((i for i, r in enumerate(records) if any(c.strip() for c in r)), None)
    if header_at is None:
        raise AlliesError(problem.path, [TableProblem(0, "the table is empty (no header row)")])
    position: dict[str, int] = {}
    for j, heading in enumerate(records[header_at]):
        key = _header_key(heading)
        if key not in COLUMNS:
            continue
        if key in position:
            problem(header_at + 1, f"column {key!r} appears twice")
        else:
            position[key] = j
    for name in COLUMNS:
        if name not in position:
            problem(header_at + 1, f"missing column {name!r}")
    return header_at, position


def _cells(
    cells: Sequence[str], row: int, position: dict[str, int], problem: _Problems
) -> tuple[str, str, str, str] | None:
    """One row's usuario, tipo, ubigeo (six digits) and entidad, each checked on its own; None
    when a cell is wrong or a column is missing (reported once, at the header)."""

    def cell(name: str) -> str | None:
        j = position.get(name)
        if j is None:
            return None
        return cells[j].strip() if j < len(cells) else ""

    usuario, tipo_raw, ubigeo_raw, entidad = (cell(name) for name in COLUMNS)
    before = len(problem.found)
    if usuario == "":
        problem(row, "empty usuario")
    elif usuario == _ANONYMOUS:
        problem(row, "usuario '-' is how the logs write 'no user'; it cannot be an account")
    tipo = tipo_raw.upper() if tipo_raw is not None else None
    if tipo_raw == "":
        problem(row, "empty tipo (expected GR, GL or OA)")
    elif tipo_raw is not None and tipo not in TIPOS:
        problem(row, f"unknown tipo {_show(tipo_raw)} (expected GR, GL or OA)")
    ubigeo = normalize_ubigeo(ubigeo_raw) if ubigeo_raw is not None else None
    if ubigeo_raw == "":
        problem(row, "empty ubigeo")
    elif ubigeo_raw is not None and ubigeo is None:
        problem(row, f"ubigeo {_show(ubigeo_raw)} is not a 6-digit code")
    elif ubigeo is not None and ubigeo not in _names():
        problem(row, f"ubigeo {ubigeo} is not in the INEI catalogue")
    if entidad == "":
        problem(row, "empty entidad")
    if len(problem.found) > before or None in (usuario, tipo, ubigeo, entidad):
        return None
    return usuario, tipo, ubigeo, entidad  # type: ignore[return-value]


class _Accounts:
    """Accounts and allies seen so far: one account, one ally; one ally, one tipo."""

    def __init__(self, problem: _Problems) -> None:
        self.problem = problem
        self.accounts: dict[str, _Seen] = {}
        self.allies: dict[tuple[str, str], _Seen] = {}

    def add(self, row: int, usuario: str, tipo: str, ubigeo: str, entidad: str) -> _Seen | None:
        """The ally of a new account (its first spelling), or None for a contradiction or a
        harmless duplicate row."""
        ally_key = (ubigeo, _entity_key(entidad))
        ally = self.allies.setdefault(ally_key, _Seen(row, ubigeo, entidad, tipo))
        if ally.tipo != tipo:
            self.problem(
                row,
                f"ally ({ubigeo}, {_show(entidad)}) is given tipo {tipo} "
                f"but row {ally.row} gives it tipo {ally.tipo}",
            )
        account = self.accounts.get(normalize_user(usuario))
        if account is None:
            self.accounts[normalize_user(usuario)] = _Seen(row, ubigeo, ally.entidad, tipo)
            return ally
        if (account.ubigeo, _entity_key(account.entidad)) != ally_key:
            self.problem(
                row,
                f"usuario {_show(usuario)} is given to ally ({ubigeo}, {_show(entidad)}) "
                f"but row {account.row} gives it to ({account.ubigeo}, "
                f"{_show(account.entidad)})",
            )
        return None


def _validate(records: Sequence[Sequence[str]], *, path: str) -> pl.DataFrame:
    problem = _Problems(path)
    header_at, position = _header(records, problem)
    names = _names()
    seen = _Accounts(problem)
    out: dict[str, list[Any]] = {name: [] for name in ALLIES_SCHEMA}
    n_rows = 0
    for i in range(header_at + 1, len(records)):
        if not any(c.strip() for c in records[i]):
            continue
        n_rows += 1
        values = _cells(records[i], i + 1, position, problem)
        if values is None:
            continue
        usuario, tipo, ubigeo, entidad = values
        ally = seen.add(i + 1, usuario, tipo, ubigeo, entidad)
        if ally is None:
            continue
        region, provincia, distrito = names[ubigeo]
        row = (normalize_user(usuario), usuario, tipo, ubigeo, ally.entidad,
               region, provincia, distrito, i + 1)  # fmt: skip
        for name, value in zip(ALLIES_SCHEMA, row, strict=True):
            out[name].append(value)
    if n_rows == 0:
        problem(header_at + 1, "the table has no rows below the header")
    problem.raise_any()
    return pl.DataFrame(out, schema=ALLIES_SCHEMA)


def load_allies(path: str | Path) -> pl.DataFrame:
    """Read and validate the allies table (CSV or XLSX, first sheet): one row per account.

    Columns are :data:`ALLIES_SCHEMA`. Raises InputError if the file cannot be read and
    AlliesError listing every problem, each with its spreadsheet row number.
    """
    p = Path(path)
    return _validate(_read_records(p), path=str(p))


def allies_frame(allies: pl.DataFrame) -> pl.DataFrame:
    """One row per ally (:data:`ALLY_COLUMNS`), ordered by ubigeo then entidad, as the matrices."""
    return (
        allies.select(ALLY_COLUMNS)
        .unique(subset=["ubigeo", "entidad"], keep="first", maintain_order=True)
        .sort(["ubigeo", "entidad"])
    )
