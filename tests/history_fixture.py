"""Months before the sample month: an older log of November 2021 to February 2022, no December.

Together with ``fixtures/logs`` (28 February 20:00 to 1 April 2022) it is a store spanning
several months, for the 12-month view and prune. Every line is scripted below, in Lima time
(``-0500``); the expected values of the view for March 2022 are derived by hand from it and
from the sample month's hand-derived cells (fixtures/README.md):

| ally (matrix 1) | Nov 2021 | Dec 2021 | Jan 2022 | Feb 2022 | Mar 2022 | idle months |
| --- | ---: | ---: | ---: | ---: | ---: | ---: |
| Gobierno Regional de Cusco (S1) | 2 | sin datos | 1 | 0 | 4 | 0 |
| Gobierno Regional de Junín: page views, no login, in November | 0 | sin datos | 0 | 0 | 0 | 4 |
| Chachapoyas (S2): Jan 5, and 28 February in the sample | 0 | sin datos | 1 | 1 | 0 | 1 |
| Gobierno Regional de Arequipa: a bot with its account in Jan | 0 | sin datos | 0 | 0 | (sample) | 0 |
| Miraflores: 2 February only | 0 | sin datos | 0 | 1 | 0 | 1 |
| Gobierno Regional de Amazonas: never seen | 0 | sin datos | 0 | 0 | 0 | 5 |

April to October 2021 are before the store's first data (2 November 2021), December 2021 is a
month without logs: all "sin datos". Allies of matrix 1 with an interaction: November 2 (Cusco,
Junín), January 2 (Cusco, Chachapoyas; the bot and the unknown ``exaliado01`` do not count),
February 3 (Chachapoyas and Lima's ``mml.omaped01`` in the sample's 28 February, Miraflores).
Miraflores' last connection is its download at 2022-02-02 10:05:00: in February, which a prune
before March deletes. February is covered (2 to 28 February), so the March report compares
with it. One line is malformed (a rejected line dated in January).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from logmetrics.config import Config
from logmetrics.ingest import ingest
from tests.fixture_month import LOGS
from tests.ingest_helpers import clf_time

LIMA = dt.timezone(dt.timedelta(hours=-5))
FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:94.0) Gecko/20100101 Firefox/94.0"
ANDROID = (
    "Mozilla/5.0 (Linux; Android 11; Redmi Note 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/97.0.4692.98 Mobile Safari/537.36"
)
BOT = "python-requests/2.27.1"
VIGENTES = "/api/reportes/vigentes"
MANUAL = "/descargas/manual.pdf"

#: (Lima time, address, user or "-", method, path, status, user agent)
LINES: tuple[tuple[str, str, str, str, str, int, str], ...] = (
    ("2021-11-02 08:59:50", "190.42.10.7", "-", "GET", "/login", 200, FIREFOX),
    ("2021-11-02 09:00:00", "190.42.10.7", "grcusco01", "POST", "/login", 302, FIREFOX),
    ("2021-11-02 09:00:01", "190.42.10.7", "grcusco01", "GET", "/inicio", 200, FIREFOX),
    ("2021-11-15 15:00:00", "181.65.3.9", "grjunin01", "GET", "/inicio", 200, FIREFOX),
    ("2021-11-15 15:01:00", "181.65.3.9", "grjunin01", "GET", "/reportes", 200, FIREFOX),
    ("2021-11-20 10:00:00", "190.42.10.7", "grcusco01", "POST", "/login", 303, FIREFOX),
    ("2021-11-20 10:00:02", "190.42.10.7", "grcusco01", "GET", "/beneficiarios", 200, FIREFOX),
    ("2022-01-05 08:00:00", "38.25.140.9", "mpchachapoyas01", "POST", "/login", 302, ANDROID),
    ("2022-01-05 08:00:01", "38.25.140.9", "mpchachapoyas01", "GET", "/inicio", 200, ANDROID),
    ("2022-01-10 11:00:00", "190.42.10.7", "grcusco01", "POST", "/login", 302, FIREFOX),
    ("2022-01-10 11:00:01", "190.42.10.7", "grcusco01", "GET", "/inicio", 200, FIREFOX),
    ("2022-01-12 07:00:00", "10.20.3.4", "grarequipa01", "POST", "/login", 302, BOT),
    ("2022-01-12 07:00:01", "10.20.3.4", "grarequipa01", "GET", VIGENTES, 200, BOT),
    ("2022-01-20 16:30:00", "200.48.1.2", "exaliado01", "POST", "/login", 302, FIREFOX),
    ("2022-01-20 16:30:01", "200.48.1.2", "exaliado01", "GET", "/inicio", 200, FIREFOX),
    ("2022-02-02 10:00:00", "201.240.8.8", "mdmiraflores01", "POST", "/login", 302, FIREFOX),
    ("2022-02-02 10:00:01", "201.240.8.8", "mdmiraflores01", "GET", "/inicio", 200, FIREFOX),
    ("2022-02-02 10:05:00", "201.240.8.8", "mdmiraflores01", "GET", MANUAL, 200, FIREFOX),
    ("2022-02-03 12:00:00", "10.1.1.1", "-", "GET", "/login", 200, ANDROID),
)
#: After the 10 January login: a line no format reads (rejected, dated by its neighbour).
MALFORMED_AFTER = 10
MALFORMED = "2022/01/15 10:00:00 [error] 1123#1123: *77 upstream timed out\n"

FIRST_DAY = dt.date(2021, 11, 2)
MIRAFLORES_LAST = dt.datetime(2022, 2, 2, 10, 5, 0)


def older_lines() -> list[str]:
    """The older log's lines, in order (combined format)."""
    out = []
    for i, (when, ip, user, method, path, status, ua) in enumerate(LINES):
        ts = dt.datetime.fromisoformat(when).replace(tzinfo=LIMA)
        out.append(
            f'{ip} - {user} [{clf_time(ts)}] "{method} {path} HTTP/1.1" {status} 512 "-" "{ua}"\n'
        )
        if i + 1 == MALFORMED_AFTER:
            out.append(MALFORMED)
    return out


def write_older_log(directory: Path) -> Path:
    """Write the older log as ``directory/older-access.log``; its path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "older-access.log"
    path.write_text("".join(older_lines()), encoding="utf-8")
    return path


def history_store(directory: Path, *more: Path) -> Path:
    """The sample month, the older log (written under ``directory``) and ``more`` paths,
    ingested into ``directory/wh``; its path."""
    older = write_older_log(directory / "older")
    ingest([LOGS, older, *more], warehouse=directory / "wh", config=Config())
    return directory / "wh"
