"""The benchmark's log generator: same bytes for the same seed, and the promised mix.

The benchmark's ratios only mean something if every tool sees the same, realistic file, so the
generator is tested like product code: deterministic, the right proportions, ~0.1% lines that no
combined-format parser accepts, and an allies table that logmetrics itself accepts.
"""

from __future__ import annotations

import gzip
import re
from collections import Counter
from pathlib import Path

import pytest

from benchmarks import genlogs, traffic

# nginx combined, strictly: what every valid generated line must match and no malformed one may.
COMBINED = re.compile(
    rb"^(?P<ip>[0-9a-f.:]+) - (?P<user>\S+) \[(?P<day>\d\d)/Mar/2022:(?P<time>\d\d:\d\d:\d\d) "
    rb'-0500\] "(?P<method>[A-Z]+) (?P<uri>\S+) HTTP/(?:1\.1|2\.0)" (?P<status>\d{3}) '
    rb'(?P<bytes>\d+) "(?P<ref>[^"]*)" "(?P<ua>[^"]*)"$'
)
N = 20_000


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict]:
    d = tmp_path_factory.mktemp("gen")
    return genlogs.ensure_logs(d, N, seed=7, verbose=False)


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    """Every tool and every run sees the same file for a seed; another seed gives another."""
    a = genlogs.generate(tmp_path / "a.log", 5_000, seed=11, gz_path=tmp_path / "a.log.gz")
    b = genlogs.generate(tmp_path / "b.log", 5_000, seed=11, gz_path=tmp_path / "b.log.gz")
    c = genlogs.generate(tmp_path / "c.log", 5_000, seed=12)
    assert (tmp_path / "a.log").read_bytes() == (tmp_path / "b.log").read_bytes()
    assert (tmp_path / "a.log.gz").read_bytes() == (tmp_path / "b.log.gz").read_bytes()
    assert a["sha256"] == b["sha256"] != c["sha256"]
    assert {k: v for k, v in a.items() if "file" not in k} == {
        k: v for k, v in b.items() if "file" not in k
    }
    assert traffic.build_accounts(11) == traffic.build_accounts(11)


def test_cached_files_are_reused(generated: tuple[Path, Path, dict]) -> None:
    """A second run with the same seed and size reuses the files instead of writing them."""
    plain, gz_path, meta = generated
    mtime = plain.stat().st_mtime_ns
    again = genlogs.ensure_logs(plain.parent, N, seed=7, verbose=False)
    assert again[2]["sha256"] == meta["sha256"]
    assert plain.stat().st_mtime_ns == mtime


def test_exact_line_count_and_gzip_copy(generated: tuple[Path, Path, dict]) -> None:
    """The file has exactly the lines asked for, and the gzip copy holds the same bytes."""
    plain, gz_path, meta = generated
    data = plain.read_bytes()
    assert data.endswith(b"\n")
    assert data.count(b"\n") == N == meta["lines"]
    assert len(data) == meta["bytes"]
    assert gzip.decompress(gz_path.read_bytes()) == data


def test_a_gzip_only_log_is_reused_and_its_plain_copy_restored(
    generated: tuple[Path, Path, dict], tmp_path: Path
) -> None:
    """--gzip-only keeps the gzip copy alone; the plain file comes back byte for byte."""
    plain, gz_path, meta = generated
    for f in (plain, gz_path, plain.with_name(plain.name.replace(".log", ".meta.json"))):
        (tmp_path / f.name).write_bytes(f.read_bytes())
    copy = tmp_path / plain.name
    copy.unlink()
    again_plain, again_gz, again = genlogs.ensure_logs(
        tmp_path, N, seed=7, verbose=False, plain=False
    )
    assert again_plain == copy and not copy.exists()  # reused, not generated again
    assert again["sha256"] == meta["sha256"]
    genlogs.restore_plain(again_gz, copy, again)
    assert copy.read_bytes() == plain.read_bytes()
    with pytest.raises(ValueError, match="SHA-256"):
        genlogs.restore_plain(again_gz, copy, {**again, "sha256": "0" * 64})


def test_malformed_lines_are_one_per_thousand_and_never_parse(
    generated: tuple[Path, Path, dict],
) -> None:
    """One line in 1,000 is broken in a way no combined-format parser accepts."""
    plain, _, meta = generated
    lines = plain.read_bytes().splitlines()
    bad = [ln for ln in lines if not COMBINED.match(ln)]
    assert len(bad) == meta["malformed"] == N // genlogs.MALFORMED_EVERY
    assert meta["valid"] == N - len(bad)
    assert any(not ln.isascii() for ln in bad) or len(bad) < 20  # some binary junk


def test_apache_log_parser_agrees_on_the_malformed_count(
    generated: tuple[Path, Path, dict],
) -> None:
    """apache-log-parser rejects exactly the lines the generator broke."""
    alp = pytest.importorskip("apache_log_parser")
    plain, _, meta = generated
    parser = alp.make_parser('%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i"')
    bad = 0
    with plain.open(encoding="utf-8", errors="replace") as fh:
        for line in fh:
            try:
                parser(line)
            except alp.LineDoesntMatchException:
                bad += 1
    assert bad == meta["malformed"]


def test_the_promised_mix(generated: tuple[Path, Path, dict]) -> None:
    """Pages, assets, bots, every event, IPv6, queries and users in the promised shares."""
    plain, _, meta = generated
    hits = [m for ln in plain.read_bytes().splitlines() if (m := COMBINED.match(ln))]
    share = {k: v / N for k, v in meta["kinds"].items()}
    assert 0.25 <= share["page"] <= 0.45
    assert 0.25 <= share["asset"] <= 0.50
    assert 0.05 <= share["bot"] <= 0.20
    for event in (
        "ingresos",
        "descargas",
        "vigentes",
        "suspendidos",
        "desafiliados",
        "menores-sin-autorizacion",
        "solicitudes",
    ):
        assert meta["kinds"][f"ev:{event}"] > 0, event
    assert 0.05 <= meta["ipv6"] / N <= 0.30
    assert meta["with_query"] / N >= 0.05
    assert 0.4 <= meta["authenticated"] / N <= 0.9

    # what the meta claims is what the lines hold
    requests = Counter((m["method"], m["uri"].split(b"?")[0], m["status"]) for m in hits)
    assert (
        requests[(b"POST", b"/login", b"302")] + requests[(b"POST", b"/login", b"303")]
        == (meta["kinds"]["ev:ingresos"])
    )
    assert requests[(b"POST", b"/solicitudes", b"201")] > 0
    assert any(k[1].startswith(b"/descargas/") and k[2] == b"200" for k in requests)
    assert requests[(b"GET", b"/api/reportes/menores-sin-autorizacion", b"200")] > 0
    assert sum(b":" in m["ip"] for m in hits) == meta["ipv6"]
    assert sum(m["user"] != b"-" for m in hits) == meta["authenticated"]
    assert any(m["ua"] == b"-" for m in hits)  # no user agent at all: a bot
    assert any(b"\\x22" in m["ua"] for m in hits)  # nginx's escaped quote

    # a whole month of Lima time, in order
    stamps = [(int(m["day"]), m["time"]) for m in hits]
    assert stamps == sorted(stamps)
    assert stamps[0][0] == 1 and stamps[-1][0] == 31


def test_allies_table_covers_the_users_and_logmetrics_accepts_it(
    generated: tuple[Path, Path, dict], tmp_path: Path
) -> None:
    """The allies table knows the logged users (but a few) and logmetrics loads it."""
    plain, _, _ = generated
    path = tmp_path / "aliados.csv"
    traffic.write_allies(path, seed=7)
    accounts = traffic.build_accounts(7)
    known = {a.usuario for a in accounts}
    assert {a.tipo for a in accounts} == {"GR", "GL", "OA"}
    assert set(traffic.NAMED_UBIGEOS) <= {a.ubigeo for a in accounts}
    assert any(not a.active for a in accounts)  # allies that never log in still get a row
    users = {
        m["user"].decode().lower()
        for ln in plain.read_bytes().splitlines()
        if (m := COMBINED.match(ln)) and m["user"] != b"-"
    }
    unknown = users - known
    assert unknown <= {*traffic.UNKNOWN_USERS, traffic.SCRIPT_USER}
    assert len(users & known) > 50

    allies_mod = pytest.importorskip("logmetrics.allies")
    frame = allies_mod.load_allies(path)
    assert frame.height == len(accounts)


def test_another_month_gzip_only(tmp_path: Path) -> None:
    """``--month 2021-02 --gzip-only``: the same traffic (same counts) stamped in February 2021
    (28 days, 1 to 28 in order), written gzip'd alone, under a name with the month."""
    march = genlogs.generate(None, 3_000, seed=11, gz_path=tmp_path / "m.log.gz")
    plain, gz_path, meta = genlogs.ensure_logs(
        tmp_path, 3_000, seed=11, month="2021-02", plain=False, verbose=False
    )
    assert not plain.exists() and gz_path.name == "access-2021-02-3000-s11.log.gz"
    assert (meta["month"], meta["file"], meta["kinds"]) == ("2021-02", None, march["kinds"])
    lines = gzip.decompress(gz_path.read_bytes()).splitlines()
    days = [int(m.group(1)) for ln in lines if (m := re.search(rb"\[(\d\d)/Feb/2021:", ln))]
    assert len(days) == meta["valid"] and days == sorted(days) and (days[0], days[-1]) == (1, 28)
