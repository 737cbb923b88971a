"""The allies lookup table and the INEI ubigeo catalogue (SPEC: "The lookup table (allies)")."""

from __future__ import annotations

import csv
import re
import zipfile
from pathlib import Path

import openpyxl
import polars as pl
import pytest

from logmetrics.allies import (
    ALLIES_SCHEMA,
    ALLY_COLUMNS,
    allies_frame,
    load_allies,
    load_ubigeo,
    normalize_ubigeo,
    place_names,
    ubigeo_path,
)
from logmetrics.errors import AlliesError, InputError

HEADER = ["usuario", "tipo", "ubigeo", "entidad"]


def write_csv(
    tmp_path: Path,
    rows: list[list[str]],
    *,
    header: list[str] = HEADER,
    sep: str = ",",
    encoding: str = "utf-8",
    name: str = "aliados.csv",
) -> Path:
    path = tmp_path / name
    lines = [sep.join(cells) for cells in [header, *rows]]
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode(encoding))
    return path


def write_xlsx(
    tmp_path: Path, rows: list[list[object]], *, header: list[str] = HEADER, name="aliados.xlsx"
) -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(header)
    for cells in rows:
        ws.append(cells)
    wb.create_sheet("notas").append(["usuario", "tipo", "ubigeo", "entidad"])  # never read
    path = tmp_path / name
    wb.save(path)
    return path


def problems_of(path: Path) -> list[str]:
    with pytest.raises(AlliesError) as info:
        load_allies(path)
    assert info.value.path == str(path)
    return [str(p) for p in info.value.problems]


# --- the INEI catalogue ------------------------------------------------------------------


def test_catalogue_counts():
    """The shipped catalogue is INEI 2025: 25 regions, 196 provinces, 1,893 districts."""
    with ubigeo_path().open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    levels = [r["nivel"] for r in rows]
    assert (levels.count("region"), levels.count("provincia"), levels.count("distrito")) == (
        25,
        196,
        1893,
    )
    assert len(rows) == 2114
    assert load_ubigeo().height == 2114


def test_catalogue_codes_are_six_digit_text_and_unique():
    """Every code is six digits kept as text (leading zero intact), once, with its level's shape."""
    cat = load_ubigeo()
    assert cat.schema == pl.Schema({c: pl.Utf8 for c in cat.columns})
    codes = cat["ubigeo"].to_list()
    assert all(re.fullmatch(r"[0-9]{6}", c) for c in codes)
    assert len(set(codes)) == len(codes)
    assert codes[0] == "010000"
    for code, nivel in cat.select("ubigeo", "nivel").iter_rows():
        expected = (
            "region" if code[2:] == "0000" else "provincia" if code[4:] == "00" else "distrito"
        )
        assert nivel == expected, code


def test_place_names_by_level():
    """A district code fills all three names, a province code two, a region code only Región."""
    assert place_names("150101") == ("Lima", "Lima", "Lima")
    assert place_names("150100") == ("Lima", "Lima", "")
    assert place_names("150000") == ("Lima", "", "")


def test_place_names_official_spelling_and_numbering():
    """Names keep INEI's accents, and numbering is INEI's (07 is Callao, 08 Cusco), not RENIEC's."""
    assert place_names("020000") == ("Áncash", "", "")
    assert place_names("030101") == ("Apurímac", "Abancay", "Abancay")
    assert place_names("070101") == ("Callao", "Callao", "Callao")
    assert place_names("080101") == ("Cusco", "Cusco", "Cusco")


def test_place_names_restores_excel_leading_zero_and_rejects_unknown():
    """place_names accepts 10101 as '010101' and raises KeyError for a code INEI does not list."""
    assert place_names(10101) == ("Amazonas", "Chachapoyas", "Chachapoyas")
    with pytest.raises(KeyError):
        place_names("990101")


def test_normalize_ubigeo():
    """Five digits get their zero back, '.0' from Excel is dropped, anything else is not a code."""
    assert normalize_ubigeo(" 10101 ") == "010101"
    assert normalize_ubigeo("150101.0") == "150101"
    assert normalize_ubigeo("1501") is None
    assert normalize_ubigeo("15010a") is None
    assert normalize_ubigeo("١٥٠١٠١") is None  # Arabic-Indic digits are not INEI codes


# --- reading -----------------------------------------------------------------------------


def test_csv_is_read_into_the_documented_frame(tmp_path):
    """A clean CSV gives one row per account with INEI names and the spreadsheet row number."""
    path = write_csv(
        tmp_path,
        [
            ["ana", "GR", "150000", "Gobierno Regional de Lima"],
            ["luis", "GL", "150101", "Municipalidad Metropolitana de Lima"],
            ["sara", "OA", "150100", "Hospital X"],
        ],
    )
    df = load_allies(path)
    assert df.schema == pl.Schema(ALLIES_SCHEMA)
    assert df.rows() == [
        ("ana", "ana", "GR", "150000", "Gobierno Regional de Lima", "Lima", "", "", 2),
        ("luis", "luis", "GL", "150101", "Municipalidad Metropolitana de Lima", "Lima", "Lima",
         "Lima", 3),
        ("sara", "sara", "OA", "150100", "Hospital X", "Lima", "Lima", "", 4),
    ]  # fmt: skip


def test_headers_and_values_are_trimmed_and_case_normalised(tmp_path):
    """Headers match in any case/order/spacing; usuario is trimmed and case-folded, tipo upper."""
    path = write_csv(
        tmp_path,
        [["Lima Metro", " 150101 ", " gl ", "  Juan.PEREZ  ", "x"]],
        header=[" ENTIDAD", "Ubigeo ", "TiPo", "USUARIO", "notas"],
    )
    df = load_allies(path)
    row = df.row(0, named=True)
    assert (row["usuario"], row["usuario_original"]) == ("juan.perez", "Juan.PEREZ")
    assert (row["tipo"], row["ubigeo"], row["entidad"]) == ("GL", "150101", "Lima Metro")


def test_semicolon_bom_csv(tmp_path):
    """A UTF-8-with-BOM CSV separated by ';' (Excel in Spanish locales) is read."""
    path = tmp_path / "aliados.csv"
    path.write_bytes(
        "\ufeffusuario;tipo;ubigeo;entidad\nana;GL;010102;Municipalidad de Asunción\n".encode()
    )
    df = load_allies(path)
    assert df.select("usuario", "entidad", "distrito").row(0) == (
        "ana",
        "Municipalidad de Asunción",
        "Asunción",
    )


def test_windows_1252_csv(tmp_path):
    """A CSV saved by Excel as Windows-1252/Latin-1 keeps its accents."""
    path = write_csv(
        tmp_path, [["ñandú", "GL", "010102", "Municipalidad de Asunción"]], encoding="cp1252"
    )
    df = load_allies(path)
    assert df.select("usuario", "entidad").row(0) == ("ñandú", "Municipalidad de Asunción")


def test_utf16_tab_separated_csv(tmp_path):
    """Excel's 'Unicode text' export (UTF-16 with BOM, tab-separated) is read."""
    path = write_csv(tmp_path, [["ana", "GL", "150101", "Muni"]], sep="\t", encoding="utf-16")
    assert load_allies(path).select("usuario", "ubigeo").row(0) == ("ana", "150101")


def test_csv_ubigeo_that_lost_its_leading_zero(tmp_path):
    """A CSV cell 10101 (Excel dropped the zero) becomes '010101'."""
    path = write_csv(tmp_path, [["ana", "GL", "10101", "Muni Chachapoyas"]])
    assert load_allies(path)["ubigeo"].to_list() == ["010101"]


def test_xlsx_first_sheet_and_numeric_ubigeo(tmp_path):
    """XLSX reads the first sheet; numeric cells 10101 and 150101.0 become '010101' and '150101'."""
    path = write_xlsx(
        tmp_path,
        [["Ana", "gl", 10101, "Muni Chachapoyas"], ["luis", "GR", 150000.0, "GORE Lima"]],
    )
    df = load_allies(path)
    assert df.select("usuario", "usuario_original", "tipo", "ubigeo", "row").rows() == [
        ("ana", "Ana", "GL", "010101", 2),
        ("luis", "luis", "GR", "150000", 3),
    ]


def test_blank_rows_are_skipped_but_rows_keep_their_numbers(tmp_path):
    """Blank lines are ignored; the row numbers stay those the operator sees in the sheet."""
    path = tmp_path / "aliados.csv"
    path.write_text("\nusuario,tipo,ubigeo,entidad\n\n,,,\nana,GL,150101,Muni\n", encoding="utf-8")
    assert load_allies(path)["row"].to_list() == [5]


def test_formula_looking_csv_cells_are_text(tmp_path):
    """A CSV cell '=HYPERLINK(...)' is kept as plain text, never evaluated."""
    path = tmp_path / "aliados.csv"
    path.write_text(
        'usuario,tipo,ubigeo,entidad\n=cmd|x,GL,150101,"=HYPERLINK(""http://x"",""Muni"")"\n',
        encoding="utf-8",
    )
    df = load_allies(path)
    assert df.select("usuario", "entidad").row(0) == ("=cmd|x", '=HYPERLINK("http://x","Muni")')


def test_xlsx_formula_without_cached_value_is_its_text(tmp_path):
    """An XLSX formula with no cached value (written by a script) is read as its formula text."""
    path = write_xlsx(tmp_path, [["ana", "GL", 150101, '=HYPERLINK("http://x","Muni")']])
    assert load_allies(path)["entidad"].to_list() == ['=HYPERLINK("http://x","Muni")']


def test_xlsx_formula_with_cached_value_gives_what_excel_shows(tmp_path):
    """An XLSX formula saved with its result (as Excel does) gives that result."""
    plain = write_xlsx(tmp_path, [["ana", "GL", 150101, '=HYPERLINK("http://x","Muni")']])
    path = tmp_path / "cached.xlsx"
    with zipfile.ZipFile(plain) as src, zipfile.ZipFile(path, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename == "xl/worksheets/sheet1.xml":
                text = data.decode()
                assert '<c r="D2"><f>' in text and "<v />" in text
                text = text.replace('<c r="D2"><f>', '<c r="D2" t="str"><f>')
                data = text.replace("<v />", "<v>Muni</v>").encode()
            dst.writestr(item, data)
    assert load_allies(path)["entidad"].to_list() == ["Muni"]


def test_identical_duplicate_rows_are_dropped(tmp_path):
    """A repeated account with the same ally and tipo (even retyped) is dropped; first row kept."""
    path = write_csv(
        tmp_path,
        [
            ["ana", "GL", "150101", "Muni Lima"],
            [" ANA ", "gl", "150101", "MUNI  LIMA"],
            ["ana", "GL", "150101", "Muni Lima"],
        ],
    )
    df = load_allies(path)
    assert df.select("usuario", "entidad", "row").rows() == [("ana", "Muni Lima", 2)]


def test_entidad_spelling_variants_are_one_ally(tmp_path):
    """'Muni Lima' and 'MUNI LIMA' in one ubigeo are one ally, spelt as in its first row."""
    path = write_csv(
        tmp_path, [["ana", "GL", "150101", "Muni Lima"], ["luis", "GL", "150101", "MUNI LIMA"]]
    )
    df = load_allies(path)
    assert df["entidad"].to_list() == ["Muni Lima", "Muni Lima"]
    assert allies_frame(df).height == 1


def test_allies_frame_one_row_per_ally_sorted(tmp_path):
    """allies_frame lists each ally once, ordered by ubigeo then entidad."""
    path = write_csv(
        tmp_path,
        [
            ["u1", "OA", "150101", "Hospital Z"],
            ["u2", "GL", "150101", "Municipalidad"],
            ["u3", "GR", "010000", "GORE Amazonas"],
            ["u4", "OA", "150101", "Hospital Z"],
        ],
    )
    assert allies_frame(load_allies(path)).rows() == [
        ("010000", "GORE Amazonas", "GR", "Amazonas", "", ""),
        ("150101", "Hospital Z", "OA", "Lima", "Lima", "Lima"),
        ("150101", "Municipalidad", "GL", "Lima", "Lima", "Lima"),
    ]
    assert tuple(allies_frame(load_allies(path)).columns) == ALLY_COLUMNS


# --- validation --------------------------------------------------------------------------

OK = ["ana", "GL", "150101", "Muni Lima"]


@pytest.mark.parametrize(
    ("bad_row", "problem"),
    [
        (["  ", "GL", "150101", "Muni"], "row 3: empty usuario"),
        (["luis", "GL", "150101", " "], "row 3: empty entidad"),
        (["luis", "XX", "150101", "Muni"], "row 3: unknown tipo 'XX' (expected GR, GL or OA)"),
        (["luis", "", "150101", "Muni"], "row 3: empty tipo (expected GR, GL or OA)"),
        (["luis", "GL", "", "Muni"], "row 3: empty ubigeo"),
        (["luis", "GL", "1501", "Muni"], "row 3: ubigeo '1501' is not a 6-digit code"),
        (["luis", "GL", "15-01-01", "Muni"], "row 3: ubigeo '15-01-01' is not a 6-digit code"),
        (["luis", "GL", "990101", "Muni"], "row 3: ubigeo 990101 is not in the INEI catalogue"),
        (["luis", "GL", "150199", "Muni"], "row 3: ubigeo 150199 is not in the INEI catalogue"),
        (
            ["Ana", "GL", "150102", "Muni Ancón"],
            "row 3: usuario 'Ana' is given to ally (150102, 'Muni Ancón') "
            "but row 2 gives it to (150101, 'Muni Lima')",
        ),
        (
            ["luis", "GR", "150101", "muni lima"],
            "row 3: ally (150101, 'muni lima') is given tipo GR but row 2 gives it tipo GL",
        ),
        (
            ["-", "GL", "150101", "Muni Lima"],
            "row 3: usuario '-' is how the logs write 'no user'; it cannot be an account",
        ),
    ],
)
def test_each_problem_is_reported_with_its_row(tmp_path, bad_row, problem):
    """Each kind of bad row is reported alone, naming row 3 (header = row 1)."""
    path = write_csv(tmp_path, [OK, bad_row])
    assert problems_of(path) == [problem]


@pytest.mark.parametrize("missing", HEADER)
def test_missing_column_is_named(tmp_path, missing):
    """A missing required column is named, at the header row."""
    header = [h for h in HEADER if h != missing] + ["otra"]
    row = [c for h, c in zip(HEADER, OK, strict=True) if h != missing] + ["x"]
    path = write_csv(tmp_path, [row], header=header)
    assert problems_of(path) == [f"row 1: missing column {missing!r}"]


def test_several_problems_are_reported_together_in_row_order(tmp_path):
    """Every problem of the table is in one AlliesError, sorted by row, with all rows' numbers."""
    path = write_csv(
        tmp_path,
        [
            OK,  # row 2
            ["ana", "GL", "010101", "Muni Chachapoyas"],  # 3: account given two allies
            ["bob", "ZZ", "12345", ""],  # 4: three problems
            ["carla", "OA", "150101", "Muni Lima"],  # 5: ally given two tipos
            ["dan", "GL", "150101", "Muni Lima"],  # 6: fine
        ],
        header=["usuario", "tipo", "ubigeo", "entidad", "usuario"],
    )
    assert problems_of(path) == [
        "row 1: column 'usuario' appears twice",
        "row 3: usuario 'ana' is given to ally (010101, 'Muni Chachapoyas') "
        "but row 2 gives it to (150101, 'Muni Lima')",
        "row 4: unknown tipo 'ZZ' (expected GR, GL or OA)",
        "row 4: ubigeo 012345 is not in the INEI catalogue",
        "row 4: empty entidad",
        "row 5: ally (150101, 'Muni Lima') is given tipo OA but row 2 gives it tipo GL",
    ]


def test_problems_carry_their_row_numbers(tmp_path):
    """Each problem names its spreadsheet row as a fact, not only in its text."""
    path = write_csv(tmp_path, [OK, ["bob", "ZZ", "150101", "Muni"]])
    with pytest.raises(AlliesError) as info:
        load_allies(path)
    assert [(p.row, p.text) for p in info.value.problems] == [
        (3, "unknown tipo 'ZZ' (expected GR, GL or OA)")
    ]


def test_missing_column_does_not_hide_row_problems(tmp_path):
    """With 'tipo' missing, the header problem and the rows' other problems come together."""
    path = write_csv(
        tmp_path,
        [["ana", "150101", "Muni"], ["", "999999", "Muni"]],
        header=["usuario", "ubigeo", "entidad"],
    )
    assert problems_of(path) == [
        "row 1: missing column 'tipo'",
        "row 3: empty usuario",
        "row 3: ubigeo 999999 is not in the INEI catalogue",
    ]


def test_xlsx_problems_carry_sheet_row_numbers(tmp_path):
    """XLSX problems name the sheet's own row numbers, including after an empty row."""
    path = write_xlsx(
        tmp_path,
        [["ana", "GL", 150101, "Muni"], [None, None, None, None], ["luis", "GX", 12, "Muni"]],
    )
    assert problems_of(path) == [
        "row 4: unknown tipo 'GX' (expected GR, GL or OA)",
        "row 4: ubigeo '12' is not a 6-digit code",
    ]


def test_problem_messages_stay_on_one_line(tmp_path):
    """A cell holding a newline is shown escaped, so the error stays one line."""
    path = tmp_path / "aliados.csv"
    path.write_text('usuario,tipo,ubigeo,entidad\nana,"G\nL",150101,Muni\n', encoding="utf-8")
    with pytest.raises(AlliesError) as info:
        load_allies(path)
    assert [str(p) for p in info.value.problems] == ["row 2: unknown tipo 'G\\nL' (expected GR, GL or OA)"]
    assert "\n" not in str(info.value)


# --- unreadable and empty files -----------------------------------------------------------


def test_missing_file_is_an_input_error(tmp_path):
    """A path that does not exist gives InputError naming it."""
    path = tmp_path / "no-such.csv"
    with pytest.raises(InputError, match=re.escape(str(path))):
        load_allies(path)


def test_directory_is_an_input_error(tmp_path):
    """A directory given as the table gives InputError naming it."""
    with pytest.raises(InputError, match=re.escape(str(tmp_path))):
        load_allies(tmp_path)


@pytest.mark.parametrize(
    ("name", "data", "hint"),
    [
        ("aliados.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, "Excel 97-2003"),
        ("aliados.xlsx", b"usuario,tipo\n", "not a valid XLSX"),
        ("aliados.xlsx", b"PK\x03\x04 broken zip", "cannot read the XLSX"),
    ],
)
def test_unreadable_spreadsheets_are_input_errors(tmp_path, name, data, hint):
    """Legacy .xls, a non-zip .xlsx and a corrupt zip give InputError naming the file."""
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(InputError, match=re.escape(str(path))) as info:
        load_allies(path)
    assert hint in str(info.value)


def test_empty_file_is_an_allies_error(tmp_path):
    """An empty (or blank) file is an AlliesError: there is no header."""
    path = tmp_path / "aliados.csv"
    path.write_text(" \n\n", encoding="utf-8")
    assert problems_of(path) == ["the table is empty (no header row)"]


def test_header_only_is_an_allies_error(tmp_path):
    """A table with a header and no rows is an AlliesError."""
    path = write_csv(tmp_path, [])
    assert problems_of(path) == ["row 1: the table has no rows below the header"]


def test_header_only_xlsx_is_an_allies_error(tmp_path):
    """An XLSX with only its header row is an AlliesError too."""
    assert problems_of(write_xlsx(tmp_path, [])) == [
        "row 1: the table has no rows below the header"
    ]


def test_excel_sep_hint_line_is_obeyed_and_not_a_row(tmp_path):
    """A CSV starting with Excel's 'sep=;' line uses ';' and keeps the header as row 1."""
    path = tmp_path / "aliados.csv"
    path.write_text(
        "sep=;\r\nusuario;tipo;ubigeo;entidad\r\nana;GL;150101;Muni, Lima\r\n", encoding="utf-8"
    )
    df = load_allies(path)
    assert df.select("entidad", "row").row(0) == ("Muni, Lima", 2)
