"""The benchmark's verdicts: the right rows compared, medians and worst peaks, SKIP when unmeasured.

A benchmark whose PASS compares the wrong rows is worse than none, so the verdict logic is
tested on hand-made runs: 5M lines is the main size, 1M the one memory is compared to, and
since lines/s of one file are inversely proportional to wall time, every ratio below is a
ratio of wall times.
"""

from __future__ import annotations

from typing import Any

import pytest

from benchmarks.measure import Run
from benchmarks.verdicts import count_check, evaluate, summarise

BIG, SMALL = 5_000_000, 1_000_000
# the verdict rows, in their order
PLAIN, GZIP, END_TO_END, INGEST_MEMORY, REPORT_MEMORY, TWELVE = range(6)


def run(label: str, wall: float, peak_mb: float, rc: int = 0, **extra: Any) -> Run:
    extra.setdefault("lines", extra["size"])
    extra.setdefault("bytes", 250 * extra["size"])
    return Run(label, [], wall, maxrss_mb=peak_mb, tree_mb=0.0, rc=rc, extra=extra)


def ingest(size: int, kind: str, jobs: int, wall: float, peak: float, rc: int = 0) -> Run:
    label = f"ingest --jobs {jobs} ({kind}, {size})"
    return run(label, wall, peak, rc, tool="ingest", size=size, input=kind, jobs=jobs)


def month(goaccess: bool = True) -> list[Run]:
    """Every ingest 300 MB at 1M and 330 MB at 5M (1.10×), report 500 → 520 MB (1.04×)."""
    runs = []
    for size, scale in ((SMALL, 1), (BIG, 5)):
        peak = 300 if size == SMALL else 330
        runs += [
            ingest(size, "plain", 1, 2.0 * scale, peak),
            ingest(size, "gz", 1, 2.4 * scale, peak),
            ingest(size, "gz", 2, 2.2 * scale, peak),
            run(
                f"report {size}",
                2.4 * scale,
                500 if size == SMALL else 520,
                tool="report",
                size=size,
            ),
        ]
        # --jobs 2 plain at 5M: walls 9, 7, 8 (median 8); the failed run's 1 s does not count
        walls = (1.6 * scale,) if size == SMALL else (9.0, 7.0, 8.0)
        runs += [ingest(size, "plain", 2, w, peak) for w in walls]
    runs.append(ingest(BIG, "plain", 2, 1.0, peak=330, rc=1))
    if goaccess:
        runs += [
            run("GoAccess plain 5M", 100.0, 60, tool="goaccess", size=BIG, input="plain"),
            run("GoAccess gz 5M", 60.0, 60, tool="goaccess", size=BIG, input="gz"),
            run("GoAccess plain 1M", 20.0, 50, tool="goaccess", size=SMALL, input="plain"),
        ]
    return runs


def verdicts(runs: list[Run]) -> list[tuple[str, float | None]]:
    ev = evaluate(summarise(runs), big=BIG, small=SMALL)
    return [(t.verdict, t.value) for t in ev["targets"]]


def test_each_target_compares_the_main_size_rows() -> None:
    """Plain: the better --jobs (median 8 s) vs GoAccess 100 s; gzip 11 s vs 60 s fails 6×."""
    got = verdicts(month())
    assert got[PLAIN] == ("PASS", pytest.approx(100 / 8))
    assert got[GZIP] == ("FAIL", pytest.approx(60 / 11))  # --jobs 2 gz: 2.2 × 5 = 11 s
    # ingest --jobs 2 8 s + report 2.4 × 5 = 12 s: 20 s, GoAccess 100 s
    assert got[END_TO_END] == ("PASS", pytest.approx(5.0))
    assert got[INGEST_MEMORY] == ("PASS", pytest.approx(1.1))
    assert got[REPORT_MEMORY] == ("PASS", pytest.approx(1.04))


def test_medians_exclude_failed_runs_and_peaks_are_the_worst() -> None:
    """A failed run is counted as failed and timed nowhere; peak memory is the worst good run."""
    runs = month()
    runs.append(ingest(BIG, "plain", 2, 8.0, peak=400))  # walls 9, 7, 8, 8: median 8
    rows = summarise(runs)
    row = rows["ingest --jobs 2 (plain, 5000000)"]
    assert (row["runs"], row["failed"], row["wall"], row["peak_mb"]) == (5, 1, 8.0, 400)
    assert row["lines_per_s"] == pytest.approx(625_000)


def test_memory_must_be_flat_and_below_a_gigabyte() -> None:
    """Growth past 1.15× fails, and so does 1.1 GB however flat."""
    grown = month() + [ingest(BIG, "gz", 2, 11.0, peak=360)]  # worst of 330, 360: 1.2× of 300
    assert verdicts(grown)[INGEST_MEMORY] == ("FAIL", pytest.approx(1.2))
    heavy = [
        run(r.label, r.wall, r.peak_mb + 800, tool="report", size=r.extra["size"])
        if r.extra["tool"] == "report"
        else r
        for r in month()
    ]  # 1,300 → 1,320 MB: 1.015×, but above 1 GB
    assert verdicts(heavy)[REPORT_MEMORY][0] == "FAIL"


def test_without_goaccess_its_targets_are_skipped_not_failed() -> None:
    """No GoAccess row: SKIP, while the memory targets still judge."""
    got = verdicts(month(goaccess=False))
    assert [v for v, _ in got] == ["SKIP", "SKIP", "SKIP", "PASS", "PASS", "SKIP"]


def test_the_twelve_month_row_reads_the_two_report_runs() -> None:
    """Issue 17: 8 s on 12 months vs 4 s on one passes (2.0×), 9 s fails; unwired is SKIP."""
    assert verdicts(month())[TWELVE] == ("SKIP", None)
    for wall, verdict in ((8.0, "PASS"), (9.0, "FAIL")):
        extra = [
            run("report 12 months", wall, 700, tool="report-12m", size=SMALL),
            run("report 1 month", 4.0, 600, tool="report-1m", size=SMALL),
        ]
        assert verdicts(month() + extra)[TWELVE] == (verdict, pytest.approx(wall / 4))


def test_an_ingest_that_stores_other_counts_is_reported() -> None:
    """The ingest's own summary must match the generator's valid and malformed lines."""
    good = ingest(SMALL, "plain", 1, 2.0, 300)
    good.extra.update(
        expect=[999_000, 1_000], summary={"lines_ingested": 999_000, "lines_rejected": 1_000}
    )
    assert count_check([good])[0].startswith("every ingest (1 runs) stored exactly")
    bad = ingest(SMALL, "gz", 1, 2.0, 300)
    bad.extra.update(
        expect=[999_000, 1_000], summary={"lines_ingested": 998_999, "lines_rejected": 1_001}
    )
    assert count_check([good, bad]) == [
        f"CHECK: {bad.label} stored 998999 hits / 1001 rejects, the generator wrote 999,000 valid "
        "/ 1,000 malformed lines"
    ]
