"""The HTML report: golden markup, Spanish formatting, self-containment and inert payloads."""

from __future__ import annotations

import base64
import datetime as dt
import errno
import hashlib
import os
import re
from html import unescape
from html.parser import HTMLParser
from pathlib import Path

import openpyxl
import pytest
import report_factory as rf

from logmetrics import render
from logmetrics._resources import resource_dir
from logmetrics.errors import OutputError
from logmetrics.render import _html, _output, _sections, render_html, write_report
from logmetrics.render._text import (
    fmt_decimal,
    fmt_duration,
    fmt_int,
    fmt_percent,
    fmt_share,
    month_label,
)

GOLDEN = Path(__file__).parent / "golden" / "reporte-usuario-aliado-2022-03.html"
UPDATE = os.environ.get("LOGMETRICS_UPDATE_GOLDEN") == "1"

#: Every element the report is made of; anything else would be injected markup.
ALLOWED_TAGS = {
    "html", "head", "meta", "title", "link", "style", "body", "a", "header", "div", "p",
    "strong", "time", "nav", "ul", "li", "main", "section", "h1", "h2", "h3", "span", "details",
    "summary", "dl", "dt", "dd", "figure", "figcaption", "svg", "rect", "text", "path",
    "circle", "label", "input", "select", "option", "output", "table", "caption", "thead",
    "tbody", "tfoot", "tr", "th", "td", "button", "footer", "script",
}  # fmt: skip


class Collector(HTMLParser):
    """Every start tag with its attributes, the script bodies, and the text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[str] = []
        self.styles: list[str] = []
        self.text: list[str] = []
        self._in: str | None = None

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag in ("script", "style"):
            self._in = tag
            (self.scripts if tag == "script" else self.styles).append("")

    def handle_endtag(self, tag):
        if tag == self._in:
            self._in = None

    def handle_data(self, data):
        if self._in == "script":
            self.scripts[-1] += data
        elif self._in == "style":
            self.styles[-1] += data
        else:
            self.text.append(data)


def parse(html: str) -> Collector:
    c = Collector()
    c.feed(html)
    c.close()
    return c


@pytest.fixture(scope="module")
def html() -> str:
    return render_html(rf.make_report())


def normalise(html: str) -> str:
    """The markup without the inline CSS/JS bodies and their hashes (tested separately)."""
    html = re.sub(r"<style>.*?</style>", "<style>[report.css]</style>", html, flags=re.S)
    html = re.sub(r"<script>.*?</script>", "<script>[report.js]</script>", html, flags=re.S)
    return re.sub(r"sha256-[A-Za-z0-9+/=]+", "sha256-…", html)


def test_html_matches_golden(html):
    """The rendered page equals the reviewed golden file (CSS and JS bodies aside)."""
    got = normalise(html)
    if UPDATE:
        GOLDEN.write_bytes(got.encode("utf-8"))
    assert got == GOLDEN.read_bytes().decode("utf-8")


def _sha(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def test_content_security_policy_allows_only_the_inline_style_and_script(html):
    """The CSP meta forbids every load and names the exact hashes of the inline code."""
    doc = parse(html)
    metas = [a for t, a in doc.tags if t == "meta" and a.get("http-equiv")]
    assert len(metas) == 1
    csp = metas[0]["content"]
    assert csp.startswith("default-src 'none';")
    assert f"script-src {_sha(doc.scripts[0])};" in csp
    assert f"style-src {_sha(doc.styles[0])};" in csp
    assert "img-src data:" in csp and "unsafe-inline" not in csp
    # the CSP is the first thing in <head> after the charset, before any style or script
    assert html.index("Content-Security-Policy") < html.index("<style>")
    templates = resource_dir("templates")
    assert doc.scripts == [(templates / "report.js").read_text(encoding="utf-8")]
    assert doc.styles == [(templates / "report.css").read_text(encoding="utf-8")]


def test_page_loads_nothing_from_outside(html):
    """No element points anywhere but the page itself or a data: URL; CSS imports nothing."""
    doc = parse(html)
    for tag, attrs in doc.tags:
        for name in ("src", "srcset", "action", "formaction", "poster", "data", "xlink:href"):
            assert name not in attrs, (tag, attrs)
        if "href" in attrs:
            href = attrs["href"] or ""
            assert href.startswith("#") or href.startswith("data:"), (tag, href)
    assert {t for t, _ in doc.tags} <= ALLOWED_TAGS
    css = doc.styles[0]
    assert "@import" not in css and "url(" not in css


def test_hostile_strings_are_text_not_markup(html):
    """Injected tags and handlers never become elements or attributes; they show as text."""
    doc = parse(html)
    assert [t for t, _ in doc.tags].count("script") == 1
    assert "img" not in {t for t, _ in doc.tags}
    assert "b" not in {t for t, _ in doc.tags}
    for _, attrs in doc.tags:
        assert not any(name.startswith("on") for name in attrs), attrs
    text = "".join(doc.text)
    for payload in (rf.SCRIPT, rf.IMG, rf.HYPERLINK, rf.JNDI, "Asociación Ñaña & Cía <b>"):
        assert payload in text, payload
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "\x00" not in html and "\x1b" not in html and "\x07" not in html


def test_header_and_coverage_in_spanish(html):
    """Programme, application, month, generation time and the data behind the month."""
    text = " ".join(" ".join(parse(html).text).split())
    assert "Programa Nacional CONTIGO" in text
    assert "Uso de la aplicación USUARIO ALIADO" in text
    assert "Reporte mensual · marzo de 2022" in text
    assert "Generado el 1 de abril de 2022, 06:00 (hora de Lima)" in text
    assert "Primera petición del mes 2022-03-01 00:00:00" in text
    assert "Peticiones de robots (excluidas) 120,456" in text
    assert "Líneas rechazadas (no legibles) en las ingestas 17" in text
    assert "Archivos de registro con peticiones del mes 31" in text


def test_report_speaks_spanish_without_hit(html, tmp_path):
    """No "hit" in what a reader sees: the page's text and labels, the workbook, the CSVs."""
    doc = parse(html)
    seen = doc.text + [v or "" for _, attrs in doc.tags for k, v in attrs.items() if k != "content"]
    write_report(rf.make_report(), tmp_path)
    book = openpyxl.load_workbook(tmp_path / "reporte-usuario-aliado-2022-03.xlsx")
    seen += [c.value for ws in book.worksheets for row in ws.iter_rows() for c in row
             if isinstance(c.value, str)]  # fmt: skip
    seen += [p.read_text(encoding="utf-8-sig") for p in tmp_path.glob("*.csv")]
    hits = sorted({m.group(0) for text in seen for m in re.finditer(r"(?i)\bhits?\b", text)})
    assert hits == []
    assert "Peticiones de robots (excluidas)" in doc.text


def test_headline_figures_and_changes(html):
    """Allies active per matrix, totals, and the change against February."""
    text = " ".join(" ".join(parse(html).text).split())
    assert "Aliados activos · Gobiernos Regionales y Locales 5 de 8 63% con" in text
    assert "Aliados activos · Otros Aliados 3 de 8" in text
    # 2,410 sessions vs 2,000: +20.5 %; 15,890 page views vs 16,000: -0.7 %
    assert "Sesiones 2,410 ▲ +20.5% respecto a febrero de 2022" in text
    assert "Vistas de página 15,890 ▼ −0.7% respecto a febrero de 2022" in text
    assert "Ingresos a la aplicación 1,320 sin cambio respecto a febrero de 2022" in text
    assert "Descargas 327 ▲ +327 (febrero de 2022: 0)" in text
    assert "Solicitudes remitidas 93 ▼ −7.0% respecto a febrero de 2022" in text


def test_no_change_shown_without_previous_month():
    """Without the previous month in the store, no comparison is printed."""
    text = " ".join(parse(render_html(rf.make_report(previous=False))).text)
    assert "respecto a" not in text


def _rows(html: str, table_id: str, part: str = "tbody") -> list[list[str]]:
    body = re.search(rf'<table id="{table_id}".*?<{part}>(.*?)</{part}>', html, re.S)
    assert body
    return [
        [unescape(re.sub(r"<[^>]+>", "", c)) for c in re.findall(r"<td[^>]*>(.*?)</td>", tr, re.S)]
        for tr in re.findall(r"<tr.*?</tr>", body.group(1), re.S)
    ]


def test_matrix_table_formats_the_peruvian_way(html):
    """Thousands with commas, rates with a point and %, empty rates as a dash, HH:MM:SS."""
    rows = _rows(html, "matriz-1")
    lima = rows[5]
    assert lima[:6] == [
        "150101", "LIMA", "LIMA", "LIMA", "Municipalidad Metropolitana de Lima", "GL",
    ]  # fmt: skip
    assert lima[6:13] == ["1,234", "310", "57", "12", "8", "19", "77"]
    assert lima[13:] == ["2022-03-31 23:59:59", "01:02:05", "15,230", "9,876", "3.13%", "21.07%"]
    never = rows[2]
    assert never[13] == "nunca" and never[17:] == ["—", "—"]
    foot = _rows(html, "matriz-1", part="tfoot")[0]
    assert foot[4] == "Total" and foot[6] == "1,255" and foot[17] == "4.27%"


def test_matrix_rows_carry_sort_keys_and_activity(html):
    """Number cells carry numeric sort keys; inactive allies are marked for the filter."""
    assert 'data-active="0"' in html and 'data-active="1"' in html
    assert '<td class="num" data-v="1234">1,234</td>' in html
    assert '<td class="num" data-v="3725">01:02:05</td>' in html
    assert '<td class="num dt" data-v="20220331235959">2022-03-31 23:59:59</td>' in html
    assert '<td class="num na" data-v="">—</td>' in html


def test_idle_allies_listed_longest_first_with_days(html):
    """Allies without activity: never-connected first, then by last connection, in days."""
    rows = _rows(html, "sin-actividad")
    assert [r[3] for r in rows[:3]] == [rf.SCRIPT, "Asociación Ñaña & Cía <b>", rf.JNDI]
    assert rows[3] == ["GL", "150132", "LIMA", "Municipalidad", "2021-02-03 10:00:00", "421 días"]
    # 2022-01-20 08:30 to the end of March: 70 whole days
    assert ["GR", "150000", "LIMA", "Gobierno Regional de Lima", "2022-01-20 08:30:00",
            "70 días"] in rows  # fmt: skip


def test_charts_are_inline_svg_with_labels(html):
    """Region, activity share, daily and idle charts carry their labels and values."""
    svgs = re.findall(r"<svg .*?</svg>", html, re.S)
    assert len(svgs) == 6
    regions = next(s for s in svgs if "Ingresos a la aplicación por región" in s)
    assert ">LIMA</text>" in regions and ">1,276</text>" in regions
    daily = next(s for s in svgs if "Sesiones e ingresos por día" in s)
    assert all(f">{d}</text>" in daily for d in range(1, 32))
    share = next(s for s in svgs if "Aliados con actividad en el mes, por tipo" in s)
    # 5 of 8 is 62.5 %: rounded half up, as SPEC rounds
    assert ">2 de 3 (67%)</text>" in share and ">3 de 5 (60%)</text>" in share
    assert ">3 de 8 (38%)</text>" in share
    idle = next(s for s in svgs if "según su última conexión" in s)
    for label, n in (("El mes anterior", 2), ("Hace 2 a 3 meses", 2),
                     ("Hace más de un año", 1), ("Nunca", 3)):  # fmt: skip
        assert f">{label}</text>" in idle and f"{label}: {n}</title>" in idle


def test_pages_devices_unknown_and_definitions(html):
    """The per-page table, device mix, unknown users and metric definitions are present."""
    pages = _rows(html, "paginas")
    assert pages[0] == ["/inicio", "9,000", "6,000", "00:01:35", "2,100", "3.33%", "10.00%", "1"]
    assert pages[2][5] == "—"
    # a group of record pages: how many pages it gathers, not which
    assert pages[3] == [
        "/beneficiarios/{id}", "1,300", "700", "00:02:00", "300", "40.00%", "35.50%", "130"
    ]  # fmt: skip
    unknown = _rows(html, "desconocidos")
    assert unknown[0] == ["jperez", "57", "6", "2022-03-28 15:02:44"]
    devices = _rows(html, "dispositivos")
    assert devices[2] == ["GL", "Escritorio", "Chrome", "Windows", "1,500", "69.44%"]
    text = " ".join(parse(html).text)
    for term in ("Porcentaje de rebote", "Sesión", "Vista de página", "Aliado activo"):
        assert f"{term}" in text


def test_empty_month_renders_with_messages():
    """A month with no activity still renders, saying so instead of showing empty tables."""
    text = " ".join(" ".join(parse(render_html(rf.empty_report())).text).split())
    assert "Ningún usuario desconocido en el mes" in text
    assert "Ningún ingreso de aliados en el mes." in text
    assert "Sin vistas de página de aliados en el mes." in text
    assert "0 de 8" in text


def test_matrix_without_allies_renders_everywhere(tmp_path):
    """A matrix whose types are absent from the allies table gives a note, not an error."""
    report = rf.make_report()
    report.matrices[1].rows = []
    paths = write_report(report, tmp_path)
    text = " ".join(" ".join(parse(paths[0].read_text(encoding="utf-8")).text).split())
    assert "La tabla de aliados no tiene aliados de este tipo." in text
    csv_lines = paths[3].read_text(encoding="utf-8-sig").splitlines()
    assert len(csv_lines) == 1 and csv_lines[0].startswith("Ubigeo,")


def test_rendering_is_deterministic(html):
    """The same report gives the same page, byte for byte."""
    assert render_html(rf.make_report()) == html


@pytest.mark.parametrize(
    ("current", "previous", "expected"),
    [
        (110, 100, ("+10.0% respecto a febrero de 2022", "up")),
        (90, 100, ("−10.0% respecto a febrero de 2022", "down")),
        (100, 100, ("sin cambio respecto a febrero de 2022", "")),
        (1000, 999, ("+0.1% respecto a febrero de 2022", "up")),
        (5, 0, ("+5 (febrero de 2022: 0)", "up")),
        (0, 0, ("sin cambio respecto a febrero de 2022", "")),
        (5, None, ("", "")),
    ],
)
def test_change_against_previous_month(current, previous, expected):
    """Change text: percentage with one decimal, or the absolute rise from zero."""
    assert _html.change(current, previous, prev_label="febrero de 2022") == expected


def test_spanish_and_peruvian_formats():
    """Month names, es-PE grouping and decimals, durations past 24 hours."""
    assert month_label("2022-03") == "marzo de 2022"
    assert month_label("2021-12") == "diciembre de 2021"
    assert _html.previous_month("2022-01") == "2021-12"
    assert fmt_int(1234567) == "1,234,567"
    assert fmt_percent(3.125) == "3.13%" and fmt_percent(None) == ""
    assert fmt_decimal(0.05, places=1) == "0.1" and fmt_decimal(1234.5, places=0) == "1,235"
    assert fmt_share(5, 8) == "63%" and fmt_share(1, 0) == "—"
    assert fmt_duration(90061) == "25:01:01"


def test_idle_buckets_by_calendar_month():
    """Buckets count calendar months back from the reported month."""
    end = dt.date(2022, 3, 31)
    assert _sections.idle_bucket(None, end) == "Nunca"
    assert _sections.idle_bucket(dt.datetime(2022, 2, 28, 23), end) == "El mes anterior"
    assert _sections.idle_bucket(dt.datetime(2021, 12, 1), end) == "Hace 2 a 3 meses"
    assert _sections.idle_bucket(dt.datetime(2021, 9, 30), end) == "Hace 4 a 6 meses"
    assert _sections.idle_bucket(dt.datetime(2021, 3, 1), end) == "Hace 7 a 12 meses"
    assert _sections.idle_bucket(dt.datetime(2021, 2, 28), end) == "Hace más de un año"


# --- write_report ----------------------------------------------------------------------------

NAMES = [
    "reporte-usuario-aliado-2022-03.html",
    "reporte-usuario-aliado-2022-03.xlsx",
    "matriz-gobiernos-2022-03.csv",
    "matriz-otros-aliados-2022-03.csv",
]


def test_write_report_writes_four_files_into_a_new_directory(tmp_path):
    """HTML, XLSX and one CSV per matrix, named for the month, in a directory it creates."""
    out = tmp_path / "nuevo" / "dir"
    paths = write_report(rf.make_report(), out)
    assert [p.name for p in paths] == NAMES
    assert sorted(p.name for p in out.iterdir()) == sorted(NAMES)
    assert paths[0].read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_write_report_twice_gives_identical_files(tmp_path):
    """Two renders of the same report are byte-identical, every file."""
    a = write_report(rf.make_report(), tmp_path / "a")
    b = write_report(rf.make_report(), tmp_path / "b")
    for pa, pb in zip(a, b, strict=True):
        assert pa.read_bytes() == pb.read_bytes(), pa.name


def test_disk_full_leaves_nothing_half_written(tmp_path, monkeypatch):
    """ENOSPC on the third file: OutputError names it, no temporary stays, old files intact."""
    out = tmp_path / "out"
    out.mkdir()
    (out / NAMES[0]).write_text("old report", encoding="utf-8")
    real = _output._write_temp
    calls = []

    def failing(target: Path, data: bytes) -> Path:
        calls.append(target)
        if len(calls) == 3:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(target, data)

    monkeypatch.setattr(_output, "_write_temp", failing)
    with pytest.raises(OutputError, match=r"matriz-gobiernos-2022-03\.csv.*No space left"):
        write_report(rf.make_report(), out)
    assert sorted(p.name for p in out.iterdir()) == [NAMES[0]]
    assert (out / NAMES[0]).read_text(encoding="utf-8") == "old report"


def test_unwritable_output_directory_is_an_output_error(tmp_path):
    """An output path that is a file, not a directory, fails with OutputError naming it."""
    blocker = tmp_path / "file"
    blocker.write_text("x", encoding="utf-8")
    with pytest.raises(OutputError, match="file"):
        write_report(rf.make_report(), blocker)


def test_two_matrices_with_one_file_stem_are_refused(tmp_path):
    """A configuration that makes two matrices share a CSV name fails before writing."""
    import dataclasses

    report = rf.make_report()
    report.matrices[1].spec = dataclasses.replace(
        report.matrices[1].spec, file_stem=report.matrices[0].spec.file_stem
    )
    with pytest.raises(OutputError, match="same file"):
        write_report(report, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_public_api_is_exported():
    """render exposes the functions the CLI and tests use."""
    for name in ("write_report", "render_html", "write_xlsx", "write_csv", "csv_text"):
        assert callable(getattr(render, name))


def test_damaged_template_cache_is_a_miss(html, tmp_path, monkeypatch):
    """A cached compiled template that is garbage or unwritable never changes or stops a report."""
    cache_dir = tmp_path / "jinja"
    cache_dir.mkdir(mode=0o700)
    monkeypatch.setattr(_html._TemplateCache, "_get_default_cache_dir", lambda self: str(cache_dir))
    _html._environment.cache_clear()
    try:
        assert render_html(rf.make_report()) == html  # compiled and cached
        entries = list(cache_dir.glob("__jinja2_*.cache"))
        assert entries
        for entry in entries:
            entry.write_bytes(entry.read_bytes()[:40] + b"\x00garbage")
        _html._environment.cache_clear()
        assert render_html(rf.make_report()) == html  # damaged entry: compiled again
        for entry in entries:
            entry.unlink()
        cache_dir.chmod(0o500)
        _html._environment.cache_clear()
        assert render_html(rf.make_report()) == html  # cannot write the cache
    finally:
        cache_dir.chmod(0o700)
        _html._environment.cache_clear()
