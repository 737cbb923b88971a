"""Per-page table and device mix, on a sessionized frame written out by hand."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
import ua_parser

from logmetrics.insights import (
    PAGE_SCHEMA,
    add_page_counts,
    classify_user_agent,
    device_mix,
    page_counts,
    pages_table,
    session_agents,
)
from logmetrics.model import DeviceRow, PageRow
from logmetrics.page_groups import PageGroups

WIN_CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0 Safari/537.36"
)
ANDROID_PHONE = (
    "Mozilla/5.0 (Linux; Android 10; SM-G973F) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0 Mobile Safari/537.36"
)
IPAD = (
    "Mozilla/5.0 (iPad; CPU OS 15_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/15.0 Mobile/15E148 Safari/604.1"
)
LINUX_FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:109.0) Gecko/20100101 Firefox/115.0"

T0 = dt.datetime(2022, 3, 10, 15, 0, 0, tzinfo=dt.UTC)

SCHEMA = {
    "ts": pl.Datetime("us", "UTC"),
    "local_ts": pl.Datetime("us"),
    "local_date": pl.Date,
    "visitor": pl.Utf8,
    "user": pl.Utf8,
    "event": pl.Utf8,
    "is_pageview": pl.Boolean,
    "page": pl.Utf8,
    "user_agent": pl.Utf8,
    "session": pl.Int64,
    "time_on_page_us": pl.Int64,
    "is_exit": pl.Boolean,
    "is_entrance": pl.Boolean,
    "session_hits": pl.Int64,
}


def _session(
    session: int, user: str | None, hits: list[tuple[float, str | None, str | None, str]]
) -> list[dict]:
    """Rows of one session from (seconds after T0, event, page, user agent), in time order.

    Time on page, exit and entrance are derived the way docs/design.md defines them.
    """
    views = [i for i, h in enumerate(hits) if h[2] is not None]
    rows = []
    for i, (sec, event, page, ua) in enumerate(hits):
        ts = T0 + dt.timedelta(seconds=sec)
        later = [j for j in views if j > i]
        time_on_page = None
        if page is not None and later:
            time_on_page = round((hits[later[0]][0] - sec) * 1_000_000)
        rows.append(
            {
                "ts": ts,
                "local_ts": (ts - dt.timedelta(hours=5)).replace(tzinfo=None),
                "local_date": (ts - dt.timedelta(hours=5)).date(),
                "visitor": user or f"anon:10.0.0.{session}|{ua}",
                "user": user,
                "event": event,
                "is_pageview": page is not None,
                "page": page,
                "user_agent": ua,
                "session": session,
                "time_on_page_us": time_on_page,
                "is_exit": bool(views) and i == views[-1],
                "is_entrance": bool(views) and i == views[0],
                "session_hits": len(hits),
            }
        )
    return rows


def sessionized() -> pl.DataFrame:
    """Seven sessions: five of known users, one of an unknown user, one anonymous."""
    rows: list[dict] = []
    # 1 ana: login, /inicio 30.5 s, /reportes 60 s, /inicio (exit)
    rows += _session(1, "ana", [
        (0, "ingresos", None, WIN_CHROME),
        (1, None, "/inicio", WIN_CHROME),
        (31.5, None, "/reportes", WIN_CHROME),
        (91.5, None, "/inicio", WIN_CHROME),
    ])  # fmt: skip
    # 2 ana on a phone: a bounce on /inicio
    rows += _session(2, "ana", [(4000, None, "/inicio", ANDROID_PHONE)])
    # 3 beto: starts on an iPad (the session's device), then another user agent
    rows += _session(3, "beto", [
        (5000, None, "/reportes", IPAD),
        (5010, None, "/reportes", WIN_CHROME),
    ])  # fmt: skip
    # 4 an unknown user and 5 an anonymous visitor: excluded everywhere
    rows += _session(4, "zed", [(6000, None, "/secreto", WIN_CHROME)])
    rows += _session(5, None, [(6100, None, "/login", WIN_CHROME)])
    # 6 beto: one download, no page view
    rows += _session(6, "beto", [(7000, "descargas", None, LINUX_FIREFOX)])
    # 7 ana: 32 views of /lista one second apart, the last one exits
    rows += _session(7, "ana", [(8000 + i, None, "/lista", WIN_CHROME) for i in range(32)])
    return pl.DataFrame(rows, schema=SCHEMA)


def test_pages_table_matches_hand_computed_all_pages():
    """Page views, unique views, half-up average time, entrances, bounce and exit rates."""
    got = pages_table(page_counts(sessionized(), known_users={"ana", "beto"}, groups=PageGroups()))
    assert got == [
        # 32 views, 31 timed seconds / (32 - 1 exit) = 1 s; 1 exit / 32 = 3.125 -> 3.13
        PageRow("/lista", 32, 1, 1, 1, 0.0, 3.13),
        # sessions 1 and 2; 30.5 s / (3 - 2 exits) -> 31 s; bounce 1 of 2 entrances; 2/3 exits
        PageRow("/inicio", 3, 2, 31, 2, 50.0, 66.67),
        # sessions 1 and 3; (60 + 10) / (3 - 1) = 35 s; entrance only in 3, no bounce; 1/3
        PageRow("/reportes", 3, 2, 35, 1, 0.0, 33.33),
    ]


def test_pages_table_accepts_a_series_and_normalises_names():
    """Known users given as a Series are trimmed and case-folded like the frame's users."""
    got = pages_table(
        page_counts(sessionized(), known_users=pl.Series([" ANA "]), groups=PageGroups())
    )
    assert [p.page for p in got] == ["/lista", "/inicio", "/reportes"]
    assert got[2].pageviews == 1


def test_pages_table_of_no_known_user_is_empty():
    """Nothing of unknown or anonymous visitors reaches the table."""
    assert pages_table(page_counts(sessionized(), known_users=set(), groups=PageGroups())) == []


UUID = "4f9c1e2a-7b3d-4c5e-9f01-23456789abcd"


def beneficiaries() -> pl.DataFrame:
    """Four sessions of known users browsing beneficiary records, one of an unknown user."""
    rows: list[dict] = []
    # 1 ana: the list 10 s, record 123 30 s, record 456 60 s, /inicio (exit)
    rows += _session(1, "ana", [
        (0, None, "/beneficiarios", WIN_CHROME),
        (10, None, "/beneficiarios/123", WIN_CHROME),
        (40, None, "/beneficiarios/456", WIN_CHROME),
        (100, None, "/inicio", WIN_CHROME),
    ])  # fmt: skip
    # 2 ana: a bounce on record 789
    rows += _session(2, "ana", [(1000, None, "/beneficiarios/789", WIN_CHROME)])
    # 3 beto: record 123 5 s, /inicio 20 s, a record by UUID (exit)
    rows += _session(3, "beto", [
        (2000, None, "/beneficiarios/123", IPAD),
        (2005, None, "/inicio", IPAD),
        (2025, None, f"/beneficiarios/{UUID}", IPAD),
    ])  # fmt: skip
    # 4 beto: a login, then editing record 123 twice (30 s, then the exit)
    rows += _session(4, "beto", [
        (3000, "ingresos", None, IPAD),
        (3001, None, "/beneficiarios/123/editar", IPAD),
        (3031, None, "/beneficiarios/123/editar", IPAD),
    ])  # fmt: skip
    # 5 an unknown user's record page: not counted
    rows += _session(5, "zed", [(4000, None, "/beneficiarios/999", WIN_CHROME)])
    return pl.DataFrame(rows, schema=SCHEMA)


def test_page_groups_follow_the_per_page_definitions():
    """A group's views, unique views (distinct sessions), time, entrances, bounces and exits."""
    counts = page_counts(beneficiaries(), known_users={"ana", "beto"}, groups=PageGroups())
    assert pages_table(counts) == [
        # views: session 1 two, 2 one, 3 two = 5; unique: sessions 1, 2, 3 = 3 (not 4 pages'
        # worth); time 30 + 60 + 5 = 95 s (the UUID record and 789 exit) / (5 - 2) -> 31.67
        # -> 32 s; entrances 789 (2) and 123 (3), bounce 789: 1/2; exits 2/5
        PageRow("/beneficiarios/{id}", 5, 3, 32, 2, 50.0, 40.0, paths=4),
        # session 4: 30 s / (2 - 1 exit); one entrance, no bounce (3 hits); 1/2 exits
        PageRow("/beneficiarios/{id}/editar", 2, 1, 30, 1, 0.0, 50.0, paths=1),
        # sessions 1 (exit) and 3 (20 s to the UUID record): 20 / (2 - 1); no entrance
        PageRow("/inicio", 2, 2, 20, 0, None, 50.0, paths=1),
        PageRow("/beneficiarios", 1, 1, 10, 1, 0.0, 0.0, paths=1),
    ]


def test_without_id_segments_each_record_is_a_page():
    """``id_segments = false`` and no pattern: pages as logged, unique views per page."""
    counts = page_counts(
        beneficiaries(), known_users={"ana", "beto"}, groups=PageGroups(id_segments=False)
    )
    rows = {r.page: r for r in pages_table(counts)}
    assert len(rows) == 7  # the list, 123, 456, 789, the UUID, 123/editar, /inicio
    # record 123 in sessions 1 and 3: 2 views, 2 unique, 30 + 5 s / 2, entered once in 3
    assert rows["/beneficiarios/123"] == PageRow("/beneficiarios/123", 2, 2, 18, 1, 0.0, 0.0)


def test_a_configured_pattern_wins_over_the_default_rule():
    """The first matching pattern names the group; other paths fall back to ``{id}``."""
    groups = PageGroups(("/beneficiarios/{ficha}/editar", "/beneficiarios/{ficha}"))
    counts = page_counts(beneficiaries(), known_users={"ana", "beto"}, groups=groups)
    assert [(r.page, r.pageviews, r.paths) for r in pages_table(counts)] == [
        ("/beneficiarios/{ficha}", 5, 4),
        ("/beneficiarios/{ficha}/editar", 2, 1),
        ("/inicio", 2, 1),
        ("/beneficiarios", 1, 1),
    ]


def test_a_page_split_into_record_ids_and_grouped_is_the_page_again():
    """/lista's 32 views, each under its own id, make one row with /lista's figures."""
    frame = sessionized()
    numbered = frame.with_columns(
        pl.when(pl.col("page") == "/lista")
        .then(pl.format("/lista/{}", pl.int_range(pl.len()) + 1000))
        .otherwise(pl.col("page"))
        .alias("page")
    )
    got = pages_table(page_counts(numbered, known_users={"ana", "beto"}, groups=PageGroups()))
    # as in test_pages_table_matches_hand_computed_all_pages, gathering 32 distinct pages
    assert got[0] == PageRow("/lista/{id}", 32, 1, 1, 1, 0.0, 3.13, paths=32)
    assert [r.page for r in got[1:]] == ["/inicio", "/reportes"]


def test_days_page_groups_add_up_to_the_months():
    """Counts of two halves summed, distinct pages united, equal the whole's."""
    frame, known = beneficiaries(), {"ana", "beto"}
    whole = page_counts(frame, known_users=known, groups=PageGroups())
    halves = [
        page_counts(
            frame.filter(pl.col("session").is_in(part)), known_users=known, groups=PageGroups()
        )
        for part in ([1, 2], [3, 4, 5])
    ]
    empty = pl.DataFrame(schema=PAGE_SCHEMA)
    summed = add_page_counts(add_page_counts(empty, halves[0]), halves[1])
    assert pages_table(summed) == pages_table(whole)
    # record 123 is in both halves, counted once among the group's 4 distinct pages
    assert pages_table(summed)[0].paths == 4


def test_device_mix_counts_sessions_by_first_hit_user_agent():
    """Sessions per type, device, browser and OS; unknown and anonymous sessions left out."""
    tipos = {"ana": "GL", " Beto ": "OA"}
    got = device_mix(session_agents(sessionized(), known_users=tipos), user_tipo=tipos)
    assert got == [
        DeviceRow("GL", "Escritorio", "Chrome", "Windows", 2),
        DeviceRow("GL", "Móvil", "Chrome", "Android", 1),
        DeviceRow("OA", "Escritorio", "Firefox", "Linux", 1),
        DeviceRow("OA", "Tableta", "Mobile Safari", "iOS", 1),
    ]


def test_device_mix_parses_each_user_agent_once(monkeypatch):
    """ua-parser runs once per distinct user agent of the sessions' first hits."""
    calls: list[str] = []
    real = ua_parser.parse

    def counting(ua: str):
        calls.append(ua)
        return real(ua)

    monkeypatch.setattr(ua_parser, "parse", counting)
    tipos = {"ana": "GL", "beto": "OA"}
    device_mix(session_agents(sessionized(), known_users=tipos), user_tipo=tipos)
    assert sorted(calls) == sorted([WIN_CHROME, ANDROID_PHONE, IPAD, LINUX_FIREFOX])


@pytest.mark.parametrize(
    ("ua", "expected"),
    [
        (WIN_CHROME, ("Escritorio", "Chrome", "Windows")),
        (ANDROID_PHONE, ("Móvil", "Chrome", "Android")),
        (IPAD, ("Tableta", "Mobile Safari", "iOS")),
        (
            "Mozilla/5.0 (Linux; Android 11; SM-T500) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/120.0 Safari/537.36",
            ("Tableta", "Chrome", "Android"),
        ),
        ("", ("Otro", "Otro", "Otro")),
        (None, ("Otro", "Otro", "Otro")),
    ],
)
def test_classify_user_agent_categories(ua, expected):
    """Desktop, phone, tablet (iPad, Android without "Mobile") and unknown user agents."""
    assert classify_user_agent(ua) == expected
