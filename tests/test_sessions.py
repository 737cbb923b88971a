"""Sessions: 30-minute inactivity gap, split at Lima midnight, time on page, exits, entrances."""

from __future__ import annotations

import polars as pl

from logmetrics.classify import interactions, label_hits
from logmetrics.config import Config, config_from_dict
from logmetrics.metrics import components, rates, sum_components
from logmetrics.sessions import sessionize
from tests.hits_factory import frame, hit

#: ana's day, Lima time. Sessions worked out by hand:
#:   S1 10:00:00 /inicio, 10:01:00 login, 10:03:00 /beneficiarios, 10:05:30 /inicio,
#:      10:35:30 /reportes (gap exactly 30 min: same session)
#:   S2 11:06:00 /inicio (gap 30 min 30 s > 30 min: new session; one hit: a bounce)
#:   S3 23:50:00 /inicio (one hit: a bounce)
#:   S4 00:05:00 (next day: midnight splits) /inicio, 00:06:10 /perfil
ANA = (
    hit("2022-03-01 10:00:00", "/inicio"),
    hit("2022-03-01 10:01:00", "/login", method="POST", status=302),
    hit("2022-03-01 10:02:00", "/static/app.css"),  # not an interaction hit
    hit("2022-03-01 10:03:00", "/beneficiarios"),
    hit("2022-03-01 10:05:30", "/inicio"),
    hit("2022-03-01 10:35:30", "/reportes"),
    hit("2022-03-01 11:06:00", "/inicio"),
    hit("2022-03-01 23:50:00", "/inicio"),
    hit("2022-03-02 00:05:00", "/inicio"),
    hit("2022-03-02 00:06:10", "/perfil"),
)


def _sessionized(*hits: dict, config: Config | None = None) -> pl.DataFrame:
    cfg = config or Config()
    return sessionize(interactions(label_hits(frame(*hits), config=cfg)), config=cfg)


def test_gap_and_midnight_split_sessions() -> None:
    """A gap of exactly 30 min keeps the session; 30:30 starts one; Lima midnight starts one."""
    s = _sessionized(*ANA)
    sessions = s["session"].to_list()
    first = sessions[0]
    assert [x - first for x in sessions] == [0, 0, 0, 0, 0, 1, 2, 3, 3]
    assert s["session_hits"].to_list() == [5, 5, 5, 5, 5, 1, 1, 2, 2]


def test_time_on_page_exits_entrances() -> None:
    """Time on page runs to the next page view of the session (events skipped); the last page
    view of each session is its exit and has no time; the first is its entrance."""
    s = _sessionized(*ANA)
    seconds = [None if us is None else us / 1e6 for us in s["time_on_page_us"].to_list()]
    assert seconds == [180.0, None, 150.0, 1800.0, None, None, None, 70.0, None]
    assert s["is_exit"].to_list() == [False, False, False, False, True, True, True, False, True]
    assert s["is_entrance"].to_list() == [True, False, False, False, False, True, True, True,
                                          False]  # fmt: skip


def test_ana_metrics_by_hand() -> None:
    """ana: 8 page views, 4 exits, Σ time 180+150+1800+70 = 2200 s over 8−4 = 4 → 550 s
    (00:09:10); unique page views 3+1+1+2 = 7; 4 sessions, 2 bounces → 50.00 %;
    exits 4/8 → 50.00 %; one login."""
    comp = components(_sessionized(*ANA), by="user", config=Config())
    r = rates(sum_components(comp, config=Config()))
    assert r == {
        "vistas": 8, "vistas_unicas": 7, "sesiones": 4, "tiempo_promedio": 550,
        "rebote": 50.0, "salidas": 50.0,
    }  # fmt: skip
    assert comp["ev_ingresos"].to_list() == [1]


def test_visitors_do_not_share_sessions() -> None:
    """Two users at the same minute, and two anonymous visitors on one IP with different user
    agents, make four sessions."""
    s = _sessionized(
        hit("2022-03-01 10:00:00", "/inicio", user="ana"),
        hit("2022-03-01 10:00:00", "/inicio", user="luis"),
        hit("2022-03-01 10:00:00", "/inicio", user=None, ua="Mozilla/5.0 A"),
        hit("2022-03-01 10:00:00", "/inicio", user=None, ua="Mozilla/5.0 B"),
    )
    assert s["session"].n_unique() == 4


def test_configured_timeout() -> None:
    """With a 10-minute timeout, an 11-minute gap starts a new session."""
    cfg = config_from_dict({"session_timeout_minutes": 10})
    s = _sessionized(
        hit("2022-03-01 10:00:00", "/inicio"), hit("2022-03-01 10:11:00", "/inicio"), config=cfg
    )
    assert s["session"].n_unique() == 2


def test_no_interaction_hits_give_no_sessions() -> None:
    """Only assets: an empty frame that still has every session column, typed."""
    s = _sessionized(hit("2022-03-01 10:02:00", "/static/app.css"))
    assert s.height == 0
    assert s.schema["session"] == pl.Int64 and s.schema["session_hits"] == pl.Int64
    assert {"time_on_page_us", "is_exit", "is_entrance"} <= set(s.columns)
