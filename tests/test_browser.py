"""The HTML report in headless Chromium: loads nothing, no errors, sorting, filtering, layout."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import report_factory as rf

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
    header = page.locator("#matriz-1 thead th").nth(5)
    header.locator("button").click()
    assert header.get_attribute("aria-sort") == "descending"
    assert _column(page, "matriz-1", 5) == ["1,234", "12", "5", "3", "1", "0", "0", "0"]
    header.locator("button").click()
    assert header.get_attribute("aria-sort") == "ascending"
    assert _column(page, "matriz-1", 5)[-1] == "1,234"
    rebote = page.locator("#matriz-1 thead th").nth(16)
    rebote.locator("button").click()
    assert _column(page, "matriz-1", 16) == [
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


def test_screenshots_and_no_horizontal_scroll_on_a_phone(browser, report_url):
    """Desktop and phone screenshots are saved; at 390 px the page never scrolls sideways."""
    ARTIFACTS.mkdir(exist_ok=True)
    for width in (1280, 390):
        w = Watched(browser, report_url, width)
        try:
            overflow = w.page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 0, f"{width}px: page scrolls sideways by {overflow}px"
            w.page.screenshot(path=str(ARTIFACTS / f"reporte-{width}px.png"), full_page=True)
            assert w.errors == []
        finally:
            w.close()
    assert (ARTIFACTS / "reporte-390px.png").stat().st_size > 10_000


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
        ARTIFACTS.mkdir(exist_ok=True)
        w.page.pdf(path=str(ARTIFACTS / "reporte-impreso.pdf"), landscape=True, format="A4")
    finally:
        w.close()
