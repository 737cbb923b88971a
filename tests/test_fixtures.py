"""The shipped sample month (fixtures/): reproducible, and holding every case it promises.

The oddities are counted from the files themselves with a small reader of the combined format
written here, independent of the package, so these tests say what the fixtures contain, not what
logmetrics makes of them (tests/test_e2e.py does that).
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import re
import subprocess
import sys
from collections import defaultdict
from itertools import pairwise
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
LOGS = FIXTURES / "logs"
ALLIES = FIXTURES / "aliados.csv"
CATALOGUE = ROOT / "logmetrics" / "data" / "ubigeo_inei.csv"
GENERATOR = ROOT / "scripts" / "make_fixtures.py"

#: app1's files, oldest first, as logrotate names them.
ROTATED = ("access.log.3.gz", "access.log.2.gz", "access.log.1", "access.log")
UTC_FILE = "app2-access.log"

COMBINED = re.compile(
    r"^(?P<ip>\S+) \S+ (?P<user>\S+) \[(?P<ts>\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4})\] "
    r'"(?P<request>[^"]*)" (?P<status>\d{3}) (?P<size>\d+|-) "(?P<referer>[^"]*)" '
    r'"(?P<ua>[^"]*)"$'
)
LIMA = dt.timezone(dt.timedelta(hours=-5))
BOT_MARKERS = ("bot", "curl/", "python-requests", "HeadlessChrome", "UptimeRobot", "Zabbix",
               "zgrab")  # fmt: skip
STATIC_EXT = (".css", ".js", ".png", ".jpg", ".jpeg", ".gif", ".svg", ".ico", ".woff", ".woff2",
              ".ttf", ".map")  # fmt: skip
EVENTS = (
    ("POST", (302, 303), re.compile(r"^/login$")),
    ("GET", (200,), re.compile(r"^/descargas/")),
    (
        "GET",
        (200,),
        re.compile(
            r"^/api/reportes/(vigentes|suspendidos|desafiliados"
            r"|menores-sin-autorizacion)$"
        ),
    ),  # fmt: skip
    ("POST", (201, 302, 303), re.compile(r"^/solicitudes$")),
)


def _text(path: Path) -> str:
    data = path.read_bytes()
    if path.name.endswith(".gz"):
        data = gzip.decompress(data)
    return data.decode("utf-8")  # raises if a file is not valid UTF-8


def _lines() -> dict[str, list[str]]:
    return {p.name: _text(p).split("\n")[:-1] for p in sorted(LOGS.iterdir())}


def _hits() -> list[dict]:
    """Every line that matches the combined format, with its Lima time and what it is."""
    hits = []
    for name, lines in _lines().items():
        for line in lines:
            m = COMBINED.match(line)
            if not m:
                continue
            h = m.groupdict()
            h["file"] = name
            h["ts"] = dt.datetime.strptime(h["ts"], "%d/%b/%Y:%H:%M:%S %z")
            h["lima"] = h["ts"].astimezone(LIMA).replace(tzinfo=None)
            h["status"] = int(h["status"])
            parts = h["request"].split(" ")
            h["method"], h["path"] = (parts[0], parts[1].split("?")[0]) if len(parts) == 3 else (
                None, None)  # fmt: skip
            h["bot"] = h["ua"] == "-" or any(b in h["ua"] for b in BOT_MARKERS)
            h["event"] = h["method"] is not None and any(
                h["method"] == meth and h["status"] in sts and rx.search(h["path"])
                for meth, sts, rx in EVENTS
            )
            h["pageview"] = (
                not h["event"]
                and h["method"] == "GET"
                and h["status"] in (200, 304)
                and not h["path"].startswith(("/static/", "/favicon.ico", "/api/", "/descargas/"))
                and not h["path"].endswith(STATIC_EXT)
            )
            hits.append(h)
    return hits


def _allies() -> list[dict[str, str]]:
    with ALLIES.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def _norm(user: str) -> str:
    return user.strip().casefold()


@pytest.fixture(scope="module")
def hits() -> list[dict]:
    return _hits()


@pytest.fixture(scope="module")
def interactions(hits: list[dict]) -> dict[str, list[dt.datetime]]:
    """Human interaction hits' Lima times by authenticated user (case-folded), in order."""
    by_user: dict[str, list[dt.datetime]] = defaultdict(list)
    for h in hits:
        if h["user"] != "-" and not h["bot"] and (h["event"] or h["pageview"]):
            by_user[_norm(h["user"])].append(h["lima"])
    return {u: sorted(ts) for u, ts in by_user.items()}


# --- reproducibility --------------------------------------------------------------------------


def test_generator_reproduces_the_committed_files_byte_for_byte(tmp_path: Path) -> None:
    """Running scripts/make_fixtures.py into a new directory writes exactly the committed files."""
    subprocess.run([sys.executable, str(GENERATOR), "--out", str(tmp_path)], check=True,
                   capture_output=True)  # fmt: skip
    made = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    shipped = sorted(
        p.relative_to(FIXTURES)
        for p in FIXTURES.rglob("*")
        if p.is_file() and p.name != "README.md"
    )
    assert made == shipped
    for rel in made:
        new, old = (tmp_path / rel).read_bytes(), (FIXTURES / rel).read_bytes()
        if rel.name.endswith(".gz"):
            assert gzip.decompress(new) == gzip.decompress(old), f"{rel}: content differs"
        assert new == old, f"{rel}: bytes differ"


def test_gzip_members_carry_no_time_and_no_name() -> None:
    """The .gz files have mtime 0 and no stored file name, so their bytes depend on content only."""
    gz = sorted(LOGS.glob("*.gz"))
    assert len(gz) >= 2
    for path in gz:
        head = path.read_bytes()[:10]
        assert head[:3] == b"\x1f\x8b\x08"
        assert head[3] & 0x08 == 0, f"{path.name}: FNAME flag set"
        assert head[4:8] == b"\0\0\0\0", f"{path.name}: mtime is not 0"


# --- the files --------------------------------------------------------------------------------


def test_files_are_rotated_contiguous_and_small() -> None:
    """Four rotated app1 files (two gzip'd) plus one UTC file; 4,000–8,000 lines, under 1 MB."""
    names = sorted(p.name for p in LOGS.iterdir())
    assert names == sorted((*ROTATED, UTC_FILE))
    lines = _lines()
    total = sum(len(v) for v in lines.values())
    assert 4000 <= total <= 8000
    size = sum(p.stat().st_size for p in FIXTURES.rglob("*") if p.is_file())
    assert size < 1_000_000
    for p in LOGS.iterdir():
        assert _text(p).endswith("\n"), f"{p.name}: last line has no newline"
    # app1's files: every stamp -0500, time ranges in order, contiguous, not overlapping.
    ranges = []
    for name in ROTATED:
        stamps = [m["ts"] for line in lines[name] if (m := COMBINED.match(line))]
        assert stamps and all(s.endswith("-0500") for s in stamps), name
        times = [dt.datetime.strptime(s, "%d/%b/%Y:%H:%M:%S %z") for s in stamps]
        assert times == sorted(times), f"{name}: lines out of order"
        ranges.append((times[0], times[-1]))
    for (_, end), (start, _) in pairwise(ranges):
        assert end <= start
        assert start - end < dt.timedelta(hours=3)
    # The second server logged in UTC.
    stamps = [m["ts"] for line in lines[UTC_FILE] if (m := COMBINED.match(line))]
    assert stamps and all(s.endswith("+0000") for s in stamps)


def test_malformed_lines_are_a_few_and_utf8() -> None:
    """5–10 lines do not match the combined format; TLS bytes appear the way nginx escapes them."""
    bad = [line for v in _lines().values() for line in v if not COMBINED.match(line)]
    assert 5 <= len(bad) <= 10
    everything = "\n".join(line for v in _lines().values() for line in v)
    assert '"\\x16\\x03\\x01' in everything
    assert '"PRI * HTTP/2.0" 400' in everything


def test_bots_of_every_kind_are_present(hits: list[dict]) -> None:
    """Crawlers, monitors, scripted clients, a headless browser and an empty user agent."""
    uas = [h["ua"] for h in hits]
    for marker in ("Googlebot", "bingbot", "curl/", "python-requests", "HeadlessChrome",
                   "UptimeRobot", "Zabbix"):  # fmt: skip
        assert any(marker in ua for ua in uas), marker
    assert "-" in uas


def test_bots_use_real_users_names(hits: list[dict]) -> None:
    """Some bot hits carry an account of the allies table, with events and page views."""
    accounts = {_norm(a["usuario"]) for a in _allies()}
    named = [h for h in hits if h["bot"] and _norm(h["user"]) in accounts]
    assert {_norm(h["user"]) for h in named} >= {"grcusco01", "mml.omaped01"}
    assert any(h["event"] for h in named) and any(h["pageview"] for h in named)


def test_requests_of_every_kind_are_present(hits: list[dict]) -> None:
    """Logins, failed logins, login page, page views, 304s, events, assets, 404s and errors."""
    human = [h for h in hits if not h["bot"]]

    def count(method: str, path: str, statuses: tuple[int, ...]) -> int:
        return sum(
            1 for h in human
            if h["method"] == method and re.search(path, h["path"]) and h["status"] in statuses
        )  # fmt: skip

    assert count("POST", r"^/login$", (302,)) and count("POST", r"^/login$", (303,))
    assert count("POST", r"^/login$", (401,)) and count("POST", r"^/login$", (200,))
    assert count("GET", r"^/login$", (200,))
    assert count("GET", r"^/descargas/", (200,)) and count("GET", r"^/descargas/", (206,))
    for button in ("vigentes", "suspendidos", "desafiliados", "menores-sin-autorizacion"):
        assert count("GET", rf"^/api/reportes/{button}$", (200,)), button
    for status in (201, 302, 303, 400):
        assert count("POST", r"^/solicitudes$", (status,)), status
    assert count("GET", r"^/static/", (200,)) and count("GET", r"^/static/", (304,))
    assert count("GET", r"^/favicon\.ico$", (200,))
    assert count("GET", r".", (404,)) and count("GET", r"^/api/", (500,))
    pages = {h["path"] for h in human if h["pageview"]}
    assert {"/inicio", "/beneficiarios", "/reportes", "/solicitudes/nueva", "/perfil"} <= pages
    assert any(p.startswith("/beneficiarios/") for p in pages)
    assert any(h["pageview"] and "?" in h["request"] for h in human)
    assert any(h["pageview"] and h["status"] == 304 for h in human)
    ua_families = ("Windows NT", "Android", "iPhone", "Firefox/", "Edg/")
    assert all(any(f in h["ua"] for h in human) for f in ua_families)


def test_anonymous_visitors_view_pages(hits: list[dict]) -> None:
    """Human hits without a user name include page views (they count only in the totals)."""
    anon = [h for h in hits if h["user"] == "-" and not h["bot"] and h["pageview"]]
    assert len(anon) >= 20
    assert {"/login", "/ayuda"} <= {h["path"] for h in anon}


def test_user_names_differ_from_the_table_in_case_and_spacing(hits: list[dict]) -> None:
    """Logged names such as GRCUSCO01 match a table account only after trimming and case-folding."""
    table = [a["usuario"] for a in _allies()]
    logged = {h["user"] for h in hits if h["user"] != "-"}
    by_norm = {_norm(u): u for u in table}
    differing = {u for u in logged if _norm(u) in by_norm and by_norm[_norm(u)] != u}
    assert {"GRCUSCO01", "grcusco02", "MML.OMAPED02"} <= differing
    assert any(u != u.strip() for u in table), "some table account has surrounding spaces"


def test_an_unknown_user_interacts(interactions: dict[str, list[dt.datetime]]) -> None:
    """A user name absent from the allies table has interaction hits in March."""
    accounts = {_norm(a["usuario"]) for a in _allies()}
    unknown = {u for u, ts in interactions.items() if u not in accounts and any(
        t.month == 3 for t in ts)}  # fmt: skip
    assert unknown == {"mdchilca01"}


def test_hits_just_outside_the_month(hits: list[dict]) -> None:
    """Human hits on 28 Feb and 1 Apr (Lima), and UTC lines dated 1 March that are 28 Feb in Lima."""
    human = [h for h in hits if not h["bot"] and h["user"] != "-"]
    assert any(h["lima"].date() == dt.date(2022, 2, 28) and h["lima"].hour == 23 for h in human)
    assert any(h["lima"].date() == dt.date(2022, 4, 1) and h["lima"].hour == 0 for h in human)
    shifted = [
        h for h in human
        if h["file"] == UTC_FILE and h["ts"].date() == dt.date(2022, 3, 1)
        and h["lima"].date() == dt.date(2022, 2, 28)
    ]  # fmt: skip
    assert shifted and all(h["ts"].hour == 3 for h in shifted)


def test_sessions_cross_midnight_and_gaps_straddle_30_minutes(
    interactions: dict[str, list[dt.datetime]],
) -> None:
    """Some users' consecutive interaction hits span Lima midnight within 30 minutes; gaps of
    29:xx, exactly 30:00 and 30:xx minutes occur."""
    crossing = 0
    gaps: list[float] = []
    for times in interactions.values():
        for a, b in pairwise(times):
            gap = (b - a).total_seconds()
            gaps.append(gap)
            if a.date() != b.date() and gap <= 30 * 60:
                crossing += 1
    assert crossing >= 3
    assert any(29 * 60 < g < 30 * 60 for g in gaps)
    assert 30 * 60 in gaps
    assert any(30 * 60 < g <= 31 * 60 for g in gaps)


# --- the allies table -------------------------------------------------------------------------


def test_allies_table_has_30_allies_of_three_types_with_real_ubigeos() -> None:
    """≥ 30 allies (ubigeo, entidad) of GR, GL and OA; every code is in the INEI catalogue; region,
    province and district-level codes all occur."""
    rows = _allies()
    assert list(rows[0]) == ["usuario", "tipo", "ubigeo", "entidad"]
    allies = {(r["ubigeo"], r["entidad"]): r["tipo"] for r in rows}
    assert len(allies) >= 30
    assert set(allies.values()) == {"GR", "GL", "OA"}
    with CATALOGUE.open(encoding="utf-8", newline="") as f:
        catalogue = {r["ubigeo"]: r["nivel"] for r in csv.DictReader(f)}
    levels = set()
    for r in rows:
        assert re.fullmatch(r"\d{6}", r["ubigeo"]), r
        assert r["ubigeo"] in catalogue, f"{r['ubigeo']} is not an INEI code"
        levels.add(catalogue[r["ubigeo"]])
    assert levels == {"region", "provincia", "distrito"}


def test_allies_table_has_shared_ubigeos_and_several_accounts() -> None:
    """Two allies share a ubigeo (within one matrix too) and some allies have several accounts."""
    rows = _allies()
    by_ubigeo: dict[str, set[tuple[str, str]]] = defaultdict(set)
    accounts: dict[tuple[str, str], int] = defaultdict(int)
    for r in rows:
        by_ubigeo[r["ubigeo"]].add((r["tipo"], r["entidad"]))
        accounts[(r["ubigeo"], r["entidad"])] += 1
    assert len(by_ubigeo["150101"]) >= 2
    assert sum(1 for t, _ in by_ubigeo["150101"] if t == "OA") >= 2
    assert sum(1 for n in accounts.values() if n > 1) >= 3
    assert len({_norm(r["usuario"]) for r in rows}) == len(rows), "an account is listed twice"


def test_idle_allies(hits: list[dict], interactions: dict[str, list[dt.datetime]]) -> None:
    """Some allies never appear in the logs; Chachapoyas interacts only in February (last
    connection before the month) and the Piura association only in April."""
    named = {_norm(h["user"]) for h in hits if h["user"] != "-"}
    members: dict[tuple[str, str], set[str]] = defaultdict(set)
    for r in _allies():
        members[(r["ubigeo"], r["entidad"])].add(_norm(r["usuario"]))
    never = [k for k, users in members.items() if not users & named]
    assert len(never) >= 3
    feb = interactions["mpchachapoyas01"]
    assert feb and all(t < dt.datetime(2022, 3, 1) for t in feb)
    apr = interactions["adpiura01"]
    assert apr and all(t >= dt.datetime(2022, 4, 1) for t in apr)
