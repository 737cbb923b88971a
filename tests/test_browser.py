"""The HTML report in headless Chromium: loads nothing, no errors, sorting, filtering, totals of
the rows shown, layout at three widths, and the printed PDF."""

from __future__ import annotations

import re
import shutil
import subprocess
from html import unescape
from pathlib import Path

import pytest
import report_factory as rf

from logmetrics.demo import run_demo
from logmetrics.render import write_report

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
if shutil.which(CHROMIUM) is None:
    pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)", allow_module_level=True)


@pytest.fixture(scope="module")
def report_url(tmp_path_factory) -> str:
    out = tmp_path_factory.mktemp("report")
    html = write_report(rf.make_report(), out)[0]
    return html.as_uri()


@pytest.fixture(scope="module")
def demo_html(tmp_path_factory) -> Path:
    """The shipped sample month through the whole pipeline: 26 + 11 allies."""
    out = tmp_path_factory.mktemp("demo")
    run_demo(out_dir=out)
    return out / "reporte-usuario-aliado-2022-03.html"


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


class Watched:
    """A page whose console errors, page errors and requests are recorded."""

    def __init__(self, browser, url: str, width: int) -> None:
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.context = browser.new_context(viewport={"width": width, "height": 900})
        self.page = self.context.new_page()
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))
        self.page.on("request", lambda req: self.requests.append(req.url))
        self.page.goto(url, wait_until="load")

    def _console(self, msg) -> None:
        if msg.type in ("error", "warning"):
            self.errors.append(f"{msg.type}: {msg.text}")

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def desktop(browser, report_url):
    w = Watched(browser, report_url, 1280)
    yield w
    w.close()


def _column(page, table: str, col: int) -> list[str]:
    return page.eval_on_selector_all(
        f"#{table} tbody tr:not([hidden])",
        f"rows => rows.map(r => r.cells[{col}].textContent.trim())",
    )


def test_page_loads_without_errors_or_requests(desktop, report_url):
    """Nothing is fetched but the file itself, and the console stays clean (CSP included)."""
    desktop.page.wait_for_timeout(200)
    assert desktop.errors == []
    assert all(u == report_url or u.startswith("data:") for u in desktop.requests), desktop.requests
    assert desktop.page.title() == "Reporte USUARIO ALIADO — marzo de 2022"
    # the script ran: the filter tools are shown and count the rows
    assert desktop.page.inner_text('[data-count="matriz-1"]') == "Mostrando 8 de 8"


def test_clicking_a_header_sorts_the_table(desktop):
    """Numbers sort largest first, then ascending; text sorts A to Z; empties stay last."""
    page = desktop.page
    header = page.locator("#matriz-1 thead th").nth(6)
    header.locator("button").click()
    assert header.get_attribute("aria-sort") == "descending"
    assert _column(page, "matriz-1", 6) == ["1,234", "12", "5", "3", "1", "0", "0", "0"]
    header.locator("button").click()
    assert header.get_attribute("aria-sort") == "ascending"
    assert _column(page, "matriz-1", 6)[-1] == "1,234"
    rebote = page.locator("#matriz-1 thead th").nth(17)
    rebote.locator("button").click()
    assert _column(page, "matriz-1", 17) == [
        "100.00%", "40.00%", "12.50%", "3.13%", "0.00%", "—", "—", "—",
    ]  # fmt: skip
    assert header.get_attribute("aria-sort") is None
    page.locator("#matriz-1 thead th").nth(4).locator("button").click()
    names = _column(page, "matriz-1", 4)
    assert names.index("Gobierno Regional de Amazonas") < names.index("Gobierno Regional de Lima")
    assert names.index("Gobierno Regional de Lima") < names.index(
        "Municipalidad Metropolitana de Lima"
    )


def test_typing_in_the_filter_hides_rows(desktop):
    """Text filter (accent- and case-insensitive) and the activity selector hide rows."""
    page = desktop.page
    box = page.locator('[data-filter="matriz-1"]')
    box.fill("lima")
    assert _column(page, "matriz-1", 0) == ["150000", "150101", "150132"]
    assert page.inner_text('[data-count="matriz-1"]') == "Mostrando 3 de 8"
    box.fill("asuncion")
    assert _column(page, "matriz-1", 3) == ["ASUNCIÓN"]
    box.fill("")
    page.select_option('[data-activity="matriz-1"]', "0")
    assert _column(page, "matriz-1", 0) == ["010102", "150000", "150132"]
    box.fill("lima")
    assert _column(page, "matriz-1", 0) == ["150000", "150132"]
    page.locator('[data-filter="paginas"]').fill("inicio")
    assert _column(page, "paginas", 0) == ["/inicio"]


def _foot(page, table: str) -> list[str]:
    return page.eval_on_selector_all(
        f"#{table} tfoot td", "cells => cells.map(c => c.textContent.trim())"
    )


def test_total_row_sums_the_rows_shown(desktop):
    """Filtered, the Total row adds up the rows shown; its rates divide their summed components."""
    page = desktop.page
    # unfiltered, the script's totals are the report's own
    assert _foot(page, "matriz-1")[4:] == [
        "Total", "", "1,255", "315", "61", "13", "8", "21", "83", "2022-03-31 23:59:59",
        "01:01:32", "15,397", "9,998", "4.27%", "21.20%",
    ]  # fmt: skip
    page.locator('[data-filter="matriz-1"]').fill("amazonas")
    assert page.inner_text('[data-count="matriz-1"]') == "Mostrando 3 de 8"
    # the three AMAZONAS rows: 12+5+0 logins ...; time (17,390 + 915) s / (160 - 51) views = 168 s;
    # bounces 8 of 53 sessions = 15.09%; exits 51 of 160 views = 31.875% -> 31.88% (half up)
    assert _foot(page, "matriz-1")[4:] == [
        "Total (3 de 8)", "", "17", "4", "4", "1", "0", "2", "6", "2022-03-30 17:45:03",
        "00:02:48", "160", "115", "15.09%", "31.88%",
    ]  # fmt: skip
    page.locator('[data-filter="matriz-1"]').fill("")
    page.select_option('[data-activity="matriz-1"]', "0")
    # three idle allies: nothing to add, rates undefined, the latest of their last connections
    assert _foot(page, "matriz-1")[4:] == [
        "Total (3 de 8)", "", "0", "0", "0", "0", "0", "0", "0", "2022-01-20 08:30:00",
        "00:00:00", "0", "0", "—", "—",
    ]  # fmt: skip
    page.locator('[data-filter="matriz-1"]').fill("zzz")
    assert _foot(page, "matriz-1")[4:7] == ["Total (0 de 8)", "", "0"]
    assert _foot(page, "matriz-1")[13] == ""
    page.locator('[data-filter="matriz-2"]').fill("lima")  # the hospital, Ñaña & Cía, @SUM
    # bounces 26+0+1 of 130+0+2 sessions = 20.45%; exits 56+2 of 310+4 views = 18.47%;
    # time (24,130 + 90) s / (314 - 58) = 94.6 -> 95 s
    assert _foot(page, "matriz-2")[4:] == [
        "Total (3 de 8)", "42", "12", "6", "2", "1", "10", "2022-03-29 12:00:01", "00:01:35",
        "314", "253", "20.45%", "18.47%",
    ]  # fmt: skip


def test_pipeline_totals_are_what_the_script_recomputes(browser, demo_html):
    """On the demo month, the script's totals from each row's components equal the report's."""
    html = demo_html.read_text(encoding="utf-8")
    w = Watched(browser, demo_html.as_uri(), 1280)
    try:
        for table in ("matriz-1", "matriz-2"):
            foot = re.search(rf'<table id="{table}".*?<tfoot>(.*?)</tfoot>', html, re.S)
            assert foot
            rendered = [unescape(re.sub(r"<[^>]+>", "", c)) for c in re.findall(
                r"<td[^>]*>(.*?)</td>", foot.group(1))]  # fmt: skip
            assert _foot(w.page, table) == rendered
            assert "Total" in rendered and any("%" in c for c in rendered)
        assert w.errors == []
    finally:
        w.close()


#: Where matrix 1's columns sit, in CSS pixels relative to its scrolling box, after scrolling it
#: to the far right; and which element shows at the centre of the first row's pinned cells.
LAYOUT = """() => {
    const table = document.querySelector('#matriz-1');
    const wrap = table.parentElement;
    wrap.scrollLeft = wrap.scrollWidth;
    const box = wrap.getBoundingClientRect();
    const x0 = box.left + wrap.clientLeft;  // the inside of the box's border
    const at = el => {
        const r = el.getBoundingClientRect();
        return {left: r.left - x0, right: r.right - x0, cx: (r.left + r.right) / 2,
                cy: (r.top + r.bottom) / 2};
    };
    const heads = [...table.tHead.rows[0].cells];
    const first = table.tBodies[0].rows[0];
    const shown = cell => {
        const r = at(cell);
        return cell.contains(document.elementFromPoint(r.cx, r.cy));
    };
    first.scrollIntoView({block: 'center'});
    return {
        inner: wrap.clientWidth, overflow: table.scrollWidth - wrap.clientWidth,
        page: document.documentElement.scrollWidth - document.documentElement.clientWidth,
        heads: heads.map(at), ubigeo: at(first.cells[0]), entidad: at(first.cells[4]),
        shown: [shown(first.cells[0]), shown(first.cells[4])],
        spill: [...table.querySelectorAll('.pin')].filter(c => c.scrollWidth > c.clientWidth)
            .map(c => c.textContent),
    };
}"""


@pytest.mark.parametrize("width", [1920, 1280, 390])
def test_matrix_fits_the_screen_and_keeps_the_ally_in_view(browser, report_url, width):
    """At 1,920 px the matrix shows every column; narrower, Ubigeo and Entidad stay in view
    while the figures scroll sideways, and the last column scrolls fully into view."""
    ARTIFACTS.mkdir(exist_ok=True)
    w = Watched(browser, report_url, width)
    try:
        got = w.page.evaluate(LAYOUT)
        w.page.locator("#matriz-1-seccion").screenshot(
            path=str(ARTIFACTS / f"matriz-1-{width}px-desplazada.png")
        )
        assert got["page"] <= 0, f"{width}px: the page scrolls sideways by {got['page']}px"
        if width == 1920:
            assert got["inner"] > 1800  # the screen's width, not the 1,200 px reading column
            assert got["overflow"] <= 0
        else:
            assert got["overflow"] > 0
        heads = got["heads"]
        assert all(h["left"] >= -1 and h["right"] <= got["inner"] + 1 for h in heads[-3:])
        assert abs(heads[0]["left"]) <= 1 and abs(got["ubigeo"]["left"]) <= 1
        if got["overflow"] > 0:  # scrolled to the end: Entidad sits right beside Ubigeo
            assert abs(got["entidad"]["left"] - got["ubigeo"]["right"]) <= 1
            assert got["entidad"]["right"] < got["inner"] / 1.5  # the figures keep some room
        else:
            assert all(h["left"] >= -1 and h["right"] <= got["inner"] + 1 for h in heads)
        assert got["shown"] == [True, True]  # nothing scrolled over the ally's cells
        assert got["spill"] == []  # and no long name spills out of them over the figures
        assert w.errors == []
    finally:
        w.close()


def test_printed_matrix_repeats_its_header_and_prints_one_total(browser, demo_html):
    """The demo report printed to PDF: every page of a matrix carries its column names, the
    Total row prints once, after the last ally, and entity names stay whole words per line."""
    pdftotext = shutil.which("pdftotext")
    if pdftotext is None:
        pytest.skip("pdftotext is not installed (apt-get install poppler-utils)")
    ARTIFACTS.mkdir(exist_ok=True)
    pdf = ARTIFACTS / "reporte-demo-impreso.pdf"
    w = Watched(browser, demo_html.as_uri(), 1280)
    try:
        w.page.pdf(path=str(pdf), prefer_css_page_size=True, print_background=True)
    finally:
        w.close()
    text = subprocess.run(
        [pdftotext, "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    pages = text.split("\f")
    starts = [next(i for i, p in enumerate(pages) if f"Matriz {n}:" in p) for n in (1, 2)]
    end = next(i for i, p in enumerate(pages) if i > starts[1] and "Aliados sin actividad" in p)
    total = re.compile(r"^\s*Total(?! de)\b.*\d", re.M)
    ally = re.compile(r"^\s*\d{6}\s", re.M)
    for first, stop in ((starts[0], starts[1]), (starts[1], end)):
        matrix = pages[first:stop]
        for page in matrix:
            for word in ("Ubigeo", "Entidad", "Porcentaje", "ingresos"):
                assert word in page, f"page without its header ({word}):\n{page}"
        assert [len(total.findall(p)) for p in matrix] == [0] * (len(matrix) - 1) + [1]
        last = matrix[-1]
        assert [m.start() for m in ally.finditer(last)][-1] < total.search(last).start()
    assert starts[1] - starts[0] >= 2, "the demo's matrix 1 should run over two pages"
    assert "Gobierno Regional de" in pages[starts[0]]  # not one word per line


def test_print_layout_puts_each_matrix_on_its_own_page(browser, report_url):
    """In print, matrices start a new page, tools are hidden and tables are not clipped."""
    w = Watched(browser, report_url, 1280)
    try:
        w.page.emulate_media(media="print")
        styles = w.page.evaluate(
            """() => ({
                breaks: [...document.querySelectorAll('section.matrix')]
                    .map(s => getComputedStyle(s).breakBefore),
                tools: getComputedStyle(document.querySelector('.tools')).display,
                wrap: getComputedStyle(document.querySelector('.table-wrap')).overflow,
            })"""
        )
        assert styles == {"breaks": ["page", "page"], "tools": "none", "wrap": "visible"}
    finally:
        w.close()
