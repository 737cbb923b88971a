"""IP anonymization (``[privacy] anonymize_ip``): client addresses shortened at ingest, so no
raw address reaches the store, while authenticated users' matrices stay the same."""

from __future__ import annotations

import datetime as dt
import ipaddress
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ingest_helpers import T0, append, clf_time, make_lines, run_ingest

from logmetrics.config import Config, config_from_dict, load_config
from logmetrics.errors import ConfigError
from logmetrics.manifest import load_manifest
from logmetrics.privacy import shorten_text, shorten_texts, shorten_value, shorten_values
from logmetrics.report import build_report
from logmetrics.storage import open_storage
from tests.fixture_month import ALLIES, LOGS, MONTH

ON = Config(anonymize_ip=True)


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        ("190.12.34.56", "190.12.34.0"),
        ("8.8.8.8", "8.8.8.0"),
        ("2001:db8:85a3:8d3:1319:8a2e:370:7348", "2001:db8:85a3::"),
        ("2001:DB8:0:0:1::1", "2001:db8::"),
        ("::ffff:190.12.34.56", "::ffff:190.12.34.0"),
        ("fe80::1%eth0", "fe80::"),
        ("[2001:db8:85a3::7]", "[2001:db8:85a3::]"),
        ("190.12.34.56:51234", "190.12.34.0:51234"),
        ("190-12-34-56.dsl.isp.pe", "dsl.isp.pe"),
        ("pc12.minsa.gob.pe", "minsa.gob.pe"),
        ("-", "-"),
        ("unix:", "unix:"),
        ("localhost", "localhost"),
        ("999.1.2.3", "999.1.2.3"),
    ],
)
def test_one_client_address_is_shortened(value: str, stored: str) -> None:
    """IPv4 keeps 24 bits, IPv6 48 (canonical form), IPv4-mapped follows IPv4; a host name
    loses its first label; what holds no address stays."""
    assert shorten_value(value) == stored
    assert shorten_values(pl.Series([value, None])).to_list() == [stored, None]


@pytest.mark.parametrize(
    ("text", "stored"),
    [
        ("203.0.113.195, 70.41.3.18, 150.172.238.178", "203.0.113.0, 70.41.3.0, 150.172.238.0"),
        ("unknown, 2001:db8:aa:bb::1", "unknown, 2001:db8:aa::"),
        (
            'for=192.0.2.60;proto=http;by=203.0.113.43, for="[2001:db8:cafe::17]:4711"',
            'for=192.0.2.0;proto=http;by=203.0.113.0, for="[2001:db8:cafe::]:4711"',
        ),
        (
            '190.12.34.56 - - [10/Mar/2022:12:00:00 -0500] "GET / HTTP/1.1" 2000 1',
            '190.12.34.0 - - [10/Mar/2022:12:00:00 -0500] "GET / HTTP/1.1" 2000 1',
        ),
    ],
)
def test_every_address_in_a_text_is_shortened(text: str, stored: str) -> None:
    """Lists (X-Forwarded-For), Forwarded headers and rejected lines have every address
    shortened, and nothing else changed (times keep their colons)."""
    assert shorten_text(text) == stored
    assert shorten_texts(pl.Series([text])).to_list() == [stored]


_ipv4 = st.integers(0, 2**32 - 1).map(lambda n: str(ipaddress.IPv4Address(n)))
_ipv6 = st.integers(0, 2**128 - 1).map(lambda n: str(ipaddress.IPv6Address(n)))


@settings(max_examples=200, deadline=None)
@given(values=st.lists(_ipv4 | _ipv6 | st.sampled_from(["-", "a.b.pe", "x"]), max_size=30))
def test_column_rule_equals_the_rule_per_value(values: list[str]) -> None:
    """The polars column conversion gives what the per-value rule gives, for any addresses."""
    got = shorten_values(pl.Series(values, dtype=pl.String)).to_list()
    assert got == [shorten_value(v) for v in values]
    for v, short in zip(values, got, strict=True):
        if v not in ("-", "a.b.pe", "x") and not v.startswith("::ffff:"):
            net = ipaddress.ip_network(f"{v}/{24 if '.' in v else 48}", strict=False)
            assert short == str(net.network_address)


def test_privacy_table_in_the_toml(tmp_path: Path) -> None:
    """``[privacy] anonymize_ip = true`` turns it on; it is off by default; a wrong type or key
    is an error naming it."""
    toml = tmp_path / "l.toml"
    toml.write_text("[privacy]\nanonymize_ip = true\n")
    assert load_config(toml).anonymize_ip is True
    assert Config().anonymize_ip is False
    with pytest.raises(ConfigError, match="privacy.anonymize_ip: expected true or false"):
        config_from_dict({"privacy": {"anonymize_ip": "yes"}})
    with pytest.raises(ConfigError, match=r"\[privacy\]: unknown key 'anonymise_ip'"):
        config_from_dict({"privacy": {"anonymise_ip": True}})


_FORMAT = '%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i" "%{X-Forwarded-For}i" "%{Forwarded}i"'
_UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:98.0) Gecko/20100101 Firefox/98.0"
#: (client, X-Forwarded-For, Forwarded as httpd logs it, quotes escaped) of each good line
_CLIENTS = [
    ("190.12.34.56", "203.0.113.195, 70.41.3.18", "for=192.0.2.60;by=203.0.113.43"),
    ("2001:db8:85a3:8d3:1319:8a2e:370:7348", "2001:db8:aa:bb::1", r'for=\"[2001:db8:cafe::17]:4711\"'),
    ("::ffff:181.65.12.9", "-", "-"),
    ("190-12-34-56.dsl.isp.pe", "181.65.12.77", "-"),
    ("10.9.8.7", "-", "-"),
    ("10.9.8.6", "-", "-"),
]
_RAW = [
    "190.12.34.56", "203.0.113.195", "70.41.3.18", "192.0.2.60", "203.0.113.43",
    "2001:db8:85a3:8d3:1319:8a2e:370:7348", "2001:db8:aa:bb::1", "2001:db8:cafe::17",
    "181.65.12.9", "190-12-34-56", "181.65.12.77", "10.9.8.7", "10.9.8.6", "172.16.5.4",
]  # fmt: skip


def _log(path: Path) -> None:
    """Six hits from the clients above and two rejected lines holding an address."""
    when = f"[{clf_time(T0)}]"
    lines = [
        f'{ip} - - {when} "GET /p/{i} HTTP/1.1" 200 5 "-" "{_UA}" "{xff}" "{fwd}"\n'.encode()
        for i, (ip, xff, fwd) in enumerate(_CLIENTS)
    ]
    lines.append(f'172.16.5.4 - - {when} "GET /x HTTP/1.1" 2000 5 "-" "{_UA}" "-" "-"\n'.encode())
    lines.append(b"garbage from 172.16.5.4 and 2001:db8:cafe::17\n")
    append(path, lines)


def _every_value(files: list[Path]) -> list[str]:
    """Every value of every column of these Parquet files, as text."""
    frame = pl.concat([pl.read_parquet(f) for f in files], how="diagonal_relaxed")
    return [str(v) for col in frame.columns for v in frame.get_column(col).to_list()]


def test_no_raw_address_reaches_the_store(tmp_path: Path) -> None:
    """With anonymize_ip the stored hits and rejects (every column of every Parquet file)
    hold no raw client address, and the manifest says the source is anonymized; without it
    they do."""
    log = tmp_path / "access.log"
    _log(log)
    for config, anonymized in ((ON, True), (Config(), False)):
        store = tmp_path / f"wh-{anonymized}"
        summary = run_ingest([log], store, config=config, log_format=_FORMAT)
        assert (summary.lines_ingested, summary.lines_rejected) == (6, 2)
        values = _every_value(sorted(store.glob("*/date=*/*.parquet")))
        found = {raw for raw in _RAW if any(raw in v for v in values)}
        assert found == (set() if anonymized else set(_RAW))
        (state,) = load_manifest(open_storage(store)).sources.values()
        assert state.anonymized is anonymized
    hits = pl.read_parquet(sorted((tmp_path / "wh-True").glob("hits/*/*.parquet")))
    columns = ("remote_addr", "req_x_forwarded_for", "req_forwarded")
    assert hits.sort("line_no").select(columns).rows() == [
        ("190.12.34.0", "203.0.113.0, 70.41.3.0", "for=192.0.2.0;by=203.0.113.0"),
        ("2001:db8:85a3::", "2001:db8:aa::", 'for="[2001:db8:cafe::]:4711"'),
        ("::ffff:181.65.12.0", None, None),
        ("dsl.isp.pe", "181.65.12.0", None),
        ("10.9.8.0", None, None),
        ("10.9.8.0", None, None),
    ]


def test_turned_on_later_the_source_still_holds_raw_addresses(tmp_path: Path) -> None:
    """A source ingested raw, then resumed with anonymize_ip, stays marked not anonymized (its
    first 12 lines keep raw addresses); a new source ingested with it on is marked."""
    log, other, store = tmp_path / "access.log", tmp_path / "b.log", tmp_path / "wh"
    append(log, make_lines(12))
    run_ingest([log], store)
    append(log, make_lines(3, start=12))
    append(other, make_lines(12, tag="b"))
    assert run_ingest([log, other], store, config=ON).lines_ingested == 15
    states = {s.path: s.anonymized for s in load_manifest(open_storage(store)).sources.values()}
    assert states == {str(log): False, str(other): True}
    addrs = pl.read_parquet(sorted(store.glob("hits/*/*.parquet"))).sort("source", "line_no")
    # combined_line's client of line i is 10.0.0.i: raw before, shortened after
    got = dict(zip(addrs.get_column("uri"), addrs.get_column("remote_addr"), strict=True))
    assert (got["/p/a/11"], got["/p/a/12"], got["/p/b/5"]) == ("10.0.0.11", "10.0.0.0", "10.0.0.0")


def _visitor_log(path: Path) -> None:
    """Four anonymous page views (two clients of one /24 with one browser, another /24, the
    first client with another browser) and one by a known user."""
    chrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/99.0.4844.51 Safari/537.36"  # noqa: E501
    when = f"[{clf_time(T0)}]"
    rows = [("10.1.2.3", "-", _UA), ("10.1.2.99", "-", _UA), ("10.1.3.4", "-", _UA),
            ("10.1.2.3", "-", chrome), ("10.1.2.50", "mlopez", _UA)]  # fmt: skip
    append(path, [f'{ip} - {user} {when} "GET /inicio HTTP/1.1" 200 5 "-" "{ua}"\n'.encode()
                  for ip, user, ua in rows])  # fmt: skip


def test_anonymous_visitors_are_told_apart_by_short_address_and_agent(tmp_path: Path) -> None:
    """Shortened, 10.1.2.3 and 10.1.2.99 with one browser are one anonymous visitor; another
    /24 or another browser is another: 3 anonymous visitors instead of 4, 1 user either way."""
    log = tmp_path / "access.log"
    _visitor_log(log)
    for config, anonymous in ((Config(), 4), (ON, 3)):
        store = tmp_path / f"wh-{anonymous}"
        run_ingest([log], store, config=config)
        report = build_report(
            MONTH, warehouse_dir=store, allies=ALLIES, config=config, allow_partial=True
        )
        totals = report.totals
        assert (totals.anonymous_visitors, totals.users, totals.pageviews) == (anonymous, 1, 5)


def test_matrices_are_unchanged_for_authenticated_users(tmp_path: Path) -> None:
    """The sample month's matrices (authenticated users only) are the same whether its
    addresses were shortened or not."""
    reports = []
    for config in (Config(), ON):
        store = tmp_path / f"wh-{config.anonymize_ip}"
        run_ingest([LOGS], store, config=config, final=True)
        reports.append(build_report(MONTH, warehouse_dir=store, allies=ALLIES, config=config))
    raw, short = reports
    assert [m.rows for m in short.matrices] == [m.rows for m in raw.matrices]
    assert [m.totals for m in short.matrices] == [m.totals for m in raw.matrices]
    assert short.totals.users == raw.totals.users > 0
    assert short.totals.anonymous_visitors <= raw.totals.anonymous_visitors


def test_rebuild_with_it_on_shortens_only_the_rebuilt_dates(tmp_path: Path) -> None:
    """Rebuilding Mar 11 of a raw source with anonymize_ip shortens that day's 24 addresses;
    Mar 10 keeps its 12 raw ones, so the source stays marked not anonymized."""
    log, store = tmp_path / "a.log", tmp_path / "wh"
    append(log, make_lines(36, step=dt.timedelta(hours=1)))  # Mar 10 12:00 .. Mar 11 23:00
    run_ingest([log], store)
    run_ingest([log], store, config=ON, rebuild=(dt.date(2022, 3, 11), dt.date(2022, 3, 11)))
    hits = pl.read_parquet(sorted(store.glob("hits/*/*.parquet")), hive_partitioning=True)
    short = hits.group_by("date").agg((pl.col("remote_addr") == "10.0.0.0").sum()).sort("date")
    # line i's client is 10.0.0.i: line 0 (Mar 10) is already 10.0.0.0
    assert short.rows() == [(dt.date(2022, 3, 10), 1), (dt.date(2022, 3, 11), 24)]
    (state,) = load_manifest(open_storage(store)).sources.values()
    assert state.anonymized is False
