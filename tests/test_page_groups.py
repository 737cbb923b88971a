"""Page groups: which paths the default rule and the patterns gather, and that no record id
from a path reaches the report's files."""

from __future__ import annotations

import datetime as dt
import zipfile
from pathlib import Path

import openpyxl
import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from logmetrics.config import Config, config_from_dict, load_config
from logmetrics.errors import ConfigError, PageGroupError
from logmetrics.ingest import ingest
from logmetrics.insights import page_counts
from logmetrics.page_groups import PageGroups, id_segment
from logmetrics.render import write_report
from logmetrics.report import build_report
from tests.ingest_helpers import clf_time

UUID = "4f9c1e2a-7b3d-4c5e-9f01-23456789abcd"


@pytest.mark.parametrize(
    ("path", "group"),
    [
        ("/beneficiarios/12345", "/beneficiarios/{id}"),
        ("/beneficiarios/7", "/beneficiarios/{id}"),
        (f"/beneficiarios/{UUID}", "/beneficiarios/{id}"),
        (f"/beneficiarios/{UUID.upper()}/editar", "/beneficiarios/{id}/editar"),
        ("/fichas/12345/adjuntos/67890.pdf", "/fichas/{id}/adjuntos/{id}.pdf"),
        ("/x/4f9c1e2a7b3d4c5e", "/x/{id}"),  # hex, 16 characters
        ("/x/9F0A1B2C3D4E5F60AB", "/x/{id}"),
        ("/t/V1StGXR8_Z5jdHi6B-myT", "/t/{id}"),  # a nanoid
        ("/t/dGhpcyBpcyBhIHRva2VuMTIz", "/t/{id}"),  # base64
        ("/t/Zm9vYmFy%2BYmF6cXV4MTIzNDU2%3D%3D", "/t/{id}"),  # base64, escaped + and =
        (
            "/t/eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFU",
            "/t/{id}",
        ),
        ("/beneficiarios/ficha-12345678", "/beneficiarios/ficha-{id}"),  # an id in a slug
        ("/buscar/dni%2012345678", "/buscar/dni%20{id}"),  # after a percent escape
        ("/t/V1StGXR8_12345_jdHi6B", "/t/{id}"),  # a token holding digits is one token
        (f"/reportes/reporte-{UUID}.pdf", "/reportes/reporte-{id}.pdf"),
        ("/reportes/2022/03", "/reportes/{id}/{id}"),
        ("/beneficiarios/12345/", "/beneficiarios/{id}/"),
    ],
)
def test_default_rule_replaces_record_ids(path: str, group: str) -> None:
    """Numbers, UUIDs, hex and base64-like tokens (in a segment or a slug) become ``{id}``."""
    assert PageGroups().group(path) == group


@pytest.mark.parametrize(
    "path",
    [
        "/api/reportes/menores-sin-autorizacion",
        "/descargas/padron-beneficiarios-2022-03.xlsx",
        "/beneficiarios/buscar",
        "/preguntas-frecuentes",
        "/solicitudes/nueva",
        "/manual-usuario-aliado.pdf",
        "/reportes/2022-03",
        "/guias/instalacion-windows10-paso-a-paso",
        "/guias/regular%20expressions%202022",
        "/v2/beneficiarios_por_region",
        "/",
        "",
    ],
)
def test_default_rule_keeps_ordinary_paths(path: str) -> None:
    """Words, slugs with years or short numbers, and version tags are not record ids."""
    assert PageGroups().group(path) == path


_WORD = st.from_regex(r"[a-záéíóúñ]{1,12}", fullmatch=True)
_SHORT_NUMBER = st.from_regex(r"[0-9]{1,4}", fullmatch=True)


@given(
    st.tuples(_WORD, st.lists(st.one_of(_WORD, _SHORT_NUMBER), max_size=7)),
    st.sampled_from("-_"),
)
def test_word_slugs_are_never_ids(parts: tuple[str, list[str]], sep: str) -> None:
    """A slug of words and numbers of up to 4 digits (years) never becomes ``{id}``."""
    first, rest = parts
    assert id_segment(sep.join([first, *rest])) is None


def test_patterns_first_match_wins_and_placeholders_stay_in_one_segment() -> None:
    """``{name}`` matches within one segment; literal text is literal; the first pattern wins."""
    groups = PageGroups(
        (
            "/fichas/ficha-{n}.pdf",
            "/reportes/{year}/{month}",
            "/reportes/{any}",
            "/a.b/{x}",
            "/beneficiarios/777",  # no placeholder: this page stays as it is
        )
    )
    assert groups.group("/fichas/ficha-123.pdf") == "/fichas/ficha-{n}.pdf"
    assert groups.group("/reportes/2022/03") == "/reportes/{year}/{month}"
    assert groups.group("/reportes/2022") == "/reportes/{any}"
    assert groups.group("/reportes/2022/03/detalle") == "/reportes/{id}/{id}/detalle"
    assert groups.group("/axb/1") == "/axb/{id}"
    assert groups.group("/beneficiarios/777") == "/beneficiarios/777"
    assert groups.group("/beneficiarios/778") == "/beneficiarios/{id}"
    assert PageGroups(("/b/{id}",), id_segments=False).group("/c/123") == "/c/123"


def test_each_distinct_path_is_decided_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Grouping asks the rules once per distinct page of the day, not once per page view."""
    calls: list[str] = []
    real = PageGroups.group

    def counting(self: PageGroups, path: str) -> str:
        calls.append(path)
        return real(self, path)

    monkeypatch.setattr(PageGroups, "group", counting)
    frame = pl.DataFrame(
        {
            "user": ["ana"] * 6,
            "is_pageview": [True] * 6,
            "page": ["/b/1", "/b/1", "/b/2", "/inicio", "/b/1", "/inicio"],
            "session": [1, 1, 1, 2, 2, 2],
            "time_on_page_us": [1, 2, None, 3, 4, None],
            "is_exit": [False, False, True, False, False, True],
            "is_entrance": [True, False, False, True, False, False],
            "session_hits": [3, 3, 3, 3, 3, 3],
        }
    )
    counts = page_counts(frame, known_users={"ana"}, groups=PageGroups())
    assert sorted(calls) == ["/b/1", "/b/2", "/inicio"]
    assert dict(counts.select("page", "unique_pageviews").iter_rows()) == {
        "/b/{id}": 2,
        "/inicio": 1,
    }


def test_pages_table_keys_from_toml(tmp_path: Path) -> None:
    """``[pages] groups`` and ``id_segments`` are read from the configuration file."""
    path = tmp_path / "logmetrics.toml"
    path.write_text(
        '[pages]\ngroups = ["/beneficiarios/{id}", "/reportes/{year}/{month}"]\n'
        "id_segments = false\n",
        encoding="utf-8",
    )
    groups = load_config(path).page_groups
    assert groups == PageGroups(("/beneficiarios/{id}", "/reportes/{year}/{month}"), False)
    assert Config().page_groups == PageGroups((), True)


@pytest.mark.parametrize(
    ("pattern", "problem"),
    [
        ("beneficiarios/{id}", "does not start with '/'"),
        ("/beneficiarios/{1d}", "no placeholder"),
        ("/beneficiarios/{id", "no placeholder"),
        ("/beneficiarios/{}", "no placeholder"),
        ("/beneficiarios/{id}?tab=1", "query string"),
    ],
)
def test_invalid_pattern_is_a_config_error_naming_the_key(pattern: str, problem: str) -> None:
    """A pattern that cannot be used stops the run (exit 2) and names its key and text."""
    with pytest.raises(PageGroupError) as err:
        config_from_dict({"pages": {"groups": ["/ok/{id}", pattern]}}, source="x.toml")
    assert (err.value.source, err.value.key, err.value.pattern) == (
        "x.toml", "pages.groups[1]", pattern,
    )  # fmt: skip
    assert problem in err.value.problem and err.value.exit_code == 2
    assert str(err.value).startswith("x.toml: pages.groups[1]: ")


@pytest.mark.parametrize(
    ("pages", "key"),
    [
        ({"groups": "/b/{id}"}, "pages.groups"),
        ({"groups": [3]}, "pages.groups[0]"),
        ({"id_segments": "no"}, "pages.id_segments"),
        ({"id_segment": False}, "id_segment"),
    ],
)
def test_wrong_types_are_config_errors(pages: dict, key: str) -> None:
    """Wrong types and misspelt keys under ``[pages]`` are errors naming the key."""
    with pytest.raises(ConfigError, match=key.replace("[", r"\[").replace("]", r"\]")):
        config_from_dict({"pages": pages})


# --- the report's files ----------------------------------------------------------------------

CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/99.0 Safari/537.36"  # noqa: E501
ALLIES = "usuario,tipo,ubigeo,entidad\nana,GR,080000,Gobierno Regional de Cusco\n"
#: what a record page leaks when it is listed as it is
SECRETS = ("12345", UUID, "V1StGXR8_Z5jdHi6B-myT", "87654321")


def _line(when: str, path: str, user: str = "ana") -> str:
    t = dt.datetime.fromisoformat(when).replace(tzinfo=dt.timezone(dt.timedelta(hours=-5)))
    return f'10.0.0.1 - {user} [{clf_time(t)}] "GET {path} HTTP/1.1" 200 512 "-" "{CHROME}"\n'


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("pages")
    logs = d / "access.log"
    logs.write_text(
        _line("2022-03-10 09:00:00", "/beneficiarios")
        + _line("2022-03-10 09:00:10", "/beneficiarios/12345?tab=datos")
        + _line("2022-03-10 09:00:40", f"/beneficiarios/{UUID}")
        + _line("2022-03-10 09:01:00", "/beneficiarios/12345/editar")
        + _line("2022-03-10 09:01:30", "/t/V1StGXR8_Z5jdHi6B-myT")
        + _line("2022-03-10 09:02:00", "/fichas/ficha-87654321.pdf")
        + _line("2022-03-10 09:03:00", "/inicio")
        # an unknown user's record page: in no table, but in the month's totals
        + _line("2022-03-11 10:00:00", "/beneficiarios/12345", user="zoe"),
        encoding="utf-8",
    )
    allies = d / "aliados.csv"
    allies.write_text(ALLIES, encoding="utf-8")
    ingest([logs], warehouse=d / "wh", config=Config(), final=True)
    return d / "wh", allies


def _texts(paths: list[Path]) -> dict[str, str]:
    """Each file as text: the HTML and CSVs as written, the workbook read back with openpyxl
    (every cell of every sheet) and its XML parts as stored."""
    out: dict[str, str] = {}
    for p in paths:
        if p.suffix == ".xlsx":
            wb = openpyxl.load_workbook(p)
            out[p.name] = "\n".join(
                str(v) for ws in wb for row in ws.iter_rows(values_only=True) for v in row
            )
            with zipfile.ZipFile(p) as zf:
                for name in zf.namelist():
                    out[f"{p.name}:{name}"] = zf.read(name).decode("utf-8", "replace")
        else:
            out[p.name] = p.read_text(encoding="utf-8")
    assert {p.suffix for p in paths} == {".html", ".xlsx", ".csv"}
    return out


def _report_files(store: tuple[Path, Path], out: Path, config: Config) -> dict[str, str]:
    report = build_report(
        "2022-03", warehouse_dir=store[0], allies=store[1], config=config, allow_partial=True
    )
    return _texts(write_report(report, out))


def test_no_record_id_reaches_the_report_by_default(
    store: tuple[Path, Path], tmp_path: Path
) -> None:
    """HTML, workbook and CSVs show ``/beneficiarios/{id}``, never an id from a path."""
    files = _report_files(store, tmp_path, Config())
    for name, text in files.items():
        for secret in SECRETS:
            assert secret not in text, (name, secret)
    sheet = files["reporte-usuario-aliado-2022-03.xlsx"]
    for group in ("/beneficiarios/{id}", "/beneficiarios/{id}/editar", "/t/{id}",
                  "/fichas/ficha-{id}.pdf", "/inicio"):  # fmt: skip
        assert group in sheet and group in files["reporte-usuario-aliado-2022-03.html"]


def test_the_ids_are_there_to_hide(store: tuple[Path, Path], tmp_path: Path) -> None:
    """With ``id_segments = false`` the same month lists the record pages as logged."""
    config = Config(page_groups=PageGroups(id_segments=False))
    html = _report_files(store, tmp_path, config)["reporte-usuario-aliado-2022-03.html"]
    for secret in SECRETS:
        assert secret in html


def test_group_rows_of_the_month(store: tuple[Path, Path]) -> None:
    """ana's one session: the records 12345 (30 s) and UUID (20 s) are one group of 2 pages,
    2 views in 1 session: (30 + 20) / (2 − 0 exits) = 25 s."""
    report = build_report("2022-03", warehouse_dir=store[0], allies=store[1], allow_partial=True)
    rows = {p.page: p for p in report.pages}
    group = rows["/beneficiarios/{id}"]
    assert (group.pageviews, group.unique_pageviews, group.paths) == (2, 1, 2)
    assert (group.avg_time_on_page, group.entrances, group.exit_rate) == (25, 0, 0.0)
    assert rows["/inicio"].exit_rate == 100.0 and rows["/beneficiarios"].entrances == 1
