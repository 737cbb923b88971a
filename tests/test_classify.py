"""Interpretation: bots, events and page views as SPEC defines them."""

from __future__ import annotations

import polars as pl
import pytest

from logmetrics.classify import bot_table, interactions, label_hits, normalize_users
from logmetrics.config import Config, config_from_dict
from tests.hits_factory import frame, hit


@pytest.mark.parametrize(
    ("ua", "is_bot"),
    [
        ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", True),
        ("curl/7.81.0", True),
        ("python-requests/2.27.1", True),
        ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 HeadlessChrome/99.0 Safari/537.36",
         True),
        (None, True),
        ("", True),
        ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
         "Chrome/99.0.4844.51 Safari/537.36", False),
        ("Mozilla/5.0 (iPhone; CPU iPhone OS 15_3 like Mac OS X) AppleWebKit/605.1.15 "
         "(KHTML, like Gecko) Version/15.3 Mobile/15E148 Safari/604.1", False),
    ],
)  # fmt: skip
def test_bot_detection(ua: str | None, is_bot: bool) -> None:
    """Crawlers, scripted clients, headless browsers and missing user agents are bots."""
    table = bot_table([ua], config=Config())
    assert table.get_column("is_bot").to_list() == [is_bot]


def test_extra_bot_pattern() -> None:
    """A configured pattern marks an otherwise human-looking agent as a bot."""
    cfg = config_from_dict({"bots": {"extra_patterns": ["MonitorInterno"]}})
    assert bot_table(["Mozilla/5.0 MonitorInterno/1.0"], config=cfg)["is_bot"].to_list() == [True]


def _labels(*hits: dict) -> list[tuple[str | None, bool]]:
    out = label_hits(frame(*hits), config=Config())
    return list(zip(out["event"].to_list(), out["is_pageview"].to_list(), strict=True))


def test_events_follow_the_url_map() -> None:
    """Each SPEC event is recognised by method, path and status; a failed login is nothing."""
    got = _labels(
        hit("2022-03-01 10:00:00", "/login", method="POST", status=302),
        hit("2022-03-01 10:00:01", "/login", method="POST", status=303),
        hit("2022-03-01 10:00:02", "/login", method="POST", status=401),
        hit("2022-03-01 10:00:03", "/login", method="POST", status=200),
        hit("2022-03-01 10:00:04", "/descargas/padron.xlsx"),
        hit("2022-03-01 10:00:05", "/descargas/padron.xlsx", status=404),
        hit("2022-03-01 10:00:06", "/api/reportes/vigentes"),
        hit("2022-03-01 10:00:07", "/api/reportes/menores-sin-autorizacion"),
        hit("2022-03-01 10:00:08", "/solicitudes", method="POST", status=201),
        hit("2022-03-01 10:00:09", "/solicitudes", method="POST", status=400),
    )
    assert got == [
        ("ingresos", False), ("ingresos", False), (None, False), (None, False),
        ("descargas", False), (None, False), ("vigentes", False),
        ("menores_sin_autorizacion", False), ("solicitudes", False), (None, False),
    ]  # fmt: skip


def test_page_views() -> None:
    """Page views: human GET 200/304, not assets, not /api/ or /descargas/, not events."""
    got = _labels(
        hit("2022-03-01 10:00:00", "/inicio"),
        hit("2022-03-01 10:00:01", "/inicio", status=304),
        hit("2022-03-01 10:00:02", "/login"),  # the login page is a page view
        hit("2022-03-01 10:00:03", "/static/app.js"),
        hit("2022-03-01 10:00:04", "/img/LOGO.PNG"),
        hit("2022-03-01 10:00:05", "/favicon.ico"),
        hit("2022-03-01 10:00:06", "/api/otra"),
        hit("2022-03-01 10:00:07", "/no-existe", status=404),
        hit("2022-03-01 10:00:08", "/inicio", method="HEAD"),
        hit("2022-03-01 10:00:09", "/inicio", ua="curl/7.81.0"),
    )
    assert [pv for _, pv in got] == [True, True, True, False, False, False, False, False,
                                     False, False]  # fmt: skip


def test_bot_hits_are_never_events() -> None:
    """A bot that logs in with a real account is excluded from everything."""
    assert _labels(hit("2022-03-01 10:00:00", "/login", method="POST", status=302,
                       ua="python-requests/2.27"))[0] == (None, False)  # fmt: skip


def test_visitor_user_and_local_time() -> None:
    """Users are trimmed and case-folded; anonymous visitors are (IP, user agent) pairs;
    local time is America/Lima (UTC−5)."""
    out = interactions(
        label_hits(
            frame(
                hit("2022-03-01 00:30:00", "/inicio", user=" GRCusco01 "),
                hit("2022-03-01 00:31:00", "/inicio", user=None, ip="1.2.3.4", ua="Mozilla/5.0 x"),
            ),
            config=Config(),
        )
    )
    assert out["user"].to_list() == ["grcusco01", None]
    assert out["visitor"].to_list() == ["grcusco01", "anon:1.2.3.4|Mozilla/5.0 x"]
    assert str(out["local_ts"][0]) == "2022-03-01 00:30:00"
    assert str(out["ts"][0]) == "2022-03-01 05:30:00+00:00"


def test_user_from_header_column() -> None:
    """With user.field set to a request header, that column carries the user."""
    cfg = config_from_dict({"user": {"field": "request_header:X-User"}})
    hits = frame(hit("2022-03-01 10:00:00", "/inicio", user="ignored")).with_columns(
        pl.lit("Maria").alias("req_x_user")
    )
    assert label_hits(hits, config=cfg)["user"].to_list() == ["maria"]


def test_missing_user_column_means_anonymous() -> None:
    """A configured header the logs never carried leaves every hit anonymous, not an error."""
    cfg = config_from_dict({"user": {"field": "cookie:sesion_usuario"}})
    out = label_hits(frame(hit("2022-03-01 10:00:00", "/inicio")), config=cfg)
    assert out["user"].to_list() == [None]


def test_interactions_keep_page_views_and_events_only() -> None:
    """Interaction hits = page views + event hits of humans."""
    out = interactions(
        label_hits(
            frame(
                hit("2022-03-01 10:00:00", "/inicio"),
                hit("2022-03-01 10:00:01", "/static/a.css"),
                hit("2022-03-01 10:00:02", "/login", method="POST", status=302),
                hit("2022-03-01 10:00:03", "/inicio", ua="Googlebot/2.1"),
            ),
            config=Config(),
        )
    )
    assert out.height == 2 and out["page"].to_list() == ["/inicio", None]


@pytest.mark.parametrize("empty_is_bot", [True, False])
def test_missing_user_agent_follows_the_setting(empty_is_bot: bool) -> None:
    """A hit without a user agent is a bot or not as bots.empty_user_agent_is_bot says."""
    cfg = config_from_dict({"bots": {"empty_user_agent_is_bot": empty_is_bot}})
    hits = frame(
        hit("2022-03-01 10:00:00", "/inicio", ua=None),
        hit("2022-03-01 10:01:00", "/inicio", ua="   "),
        hit("2022-03-01 10:02:00", "/inicio", ua="curl/8.0"),
        hit("2022-03-01 10:03:00", "/inicio"),
    )
    got = label_hits(hits, config=cfg)["is_bot"].to_list()
    assert got == [empty_is_bot, empty_is_bot, True, False]


def test_user_names_already_in_key_form_stay_and_blanks_become_null() -> None:
    """Only names that change are rewritten; a blank name is anonymous."""
    users = pl.DataFrame({"user": ["ana", " Ana ", "   ", None, "GRLIMA"]})
    assert normalize_users(users)["user"].to_list() == ["ana", "ana", None, None, "grlima"]
    same = pl.DataFrame({"user": ["ana", None, "grlima"]})
    assert normalize_users(same)["user"].to_list() == ["ana", None, "grlima"]
