"""From runs to rows (medians per tool and size) and to one PASS/FAIL line per target.

Issue 15's targets are ratios measured side by side in one run, so they hold on any machine
where absolute times do not: ingest of the main size (5M lines) at least 6× GoAccess's lines/s,
plain and gzip, taking the better of ``--jobs 1`` and ``2``; ingest + report at least 4× faster
than GoAccess writing its HTML report; ingest and report peak memory below 1 GB and flat from
the second size (1M) to the main one (at most 1.15×). Issue 17 adds one: the report with its
"last 12 months" section on a 12-month store takes at most twice the time of the same report
on a store holding only that month. apache-log-parser is a reference row, with no target.
"""

from __future__ import annotations

import os
import statistics
from dataclasses import dataclass
from typing import Any

from benchmarks.measure import GB, MB, Run

T_GOACCESS = 6.0  # ingest lines/s ÷ GoAccess lines/s, plain and gzip
T_END_TO_END = 4.0  # GoAccess HTML time ÷ (ingest + report) time
T_PEAK = 1 * GB  # peak memory of ingest and of report
T_FLAT = 1.15  # peak memory at the main size ÷ at the second size
T_TWELVE = 2.0  # report on the 12-month store ÷ the same report on the month alone
DISTURBED = 0.25  # median cores used by other processes during the runs

Row = dict[str, Any]
Rows = dict[str, Row]
INGEST_SETTINGS = tuple((jobs, kind) for jobs in (1, 2) for kind in ("plain", "gz"))


def summarise(runs: list[Run]) -> Rows:
    """Median wall and CPU time per label, worst peak memory; failed runs excluded and counted."""
    rows: Rows = {}
    for label in dict.fromkeys(r.label for r in runs):
        group = [r for r in runs if r.label == label]
        ok = [r for r in group if r.rc == 0]
        first = group[0].extra
        row: Row = {
            "label": label,
            **{k: first.get(k) for k in ("tool", "input", "jobs", "size", "lines", "bytes")},
            "runs": len(group),
            "failed": len(group) - len(ok),
        }
        if ok:
            wall = statistics.median(r.wall for r in ok)
            row.update(
                wall=wall,
                lines_per_s=first["lines"] / wall,
                mb_per_s=first["bytes"] / MB / wall if first["bytes"] else None,
                cpu=statistics.median(r.cpu for r in ok),
                others=statistics.median(r.others for r in ok),
                maxrss_mb=statistics.median(r.maxrss_mb for r in ok),
                tree_mb=statistics.median(r.tree_mb for r in ok),
                peak_mb=max(r.peak_mb for r in ok),  # a ceiling is a ceiling: the worst run
                walls=[round(r.wall, 3) for r in ok],
            )
        else:
            row["error"] = group[-1].stderr.strip()[-500:]
        rows[label] = row
    return rows


def find(
    rows: Rows,
    tool: str,
    size: int | None = None,
    *,
    kind: str | None = None,
    jobs: int | None = None,
) -> Row | None:
    """The measured row of ``tool`` on the file of ``size`` lines (and input kind, jobs if given)."""
    for row in rows.values():
        if (
            row["tool"] == tool
            and (size is None or row["size"] == size)
            and (kind is None or row["input"] == kind)
            and (jobs is None or row["jobs"] == jobs)
            and "wall" in row
        ):
            return row
    return None


def _get(row: Row | None, key: str) -> float | None:
    return None if row is None else row.get(key)


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a and b else None


def fmt_x(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.1f}×"


@dataclass
class Verdict:
    """One target's line: PASS, FAIL, or SKIP when it could not be measured."""

    target: str
    verdict: str
    value: float | None
    detail: str


def _verdict(target: str, value: float | None, ok: bool, detail: str) -> Verdict:
    return Verdict(target, "SKIP" if value is None else ("PASS" if ok else "FAIL"), value, detail)


def throughput_targets(rows: Rows, big: int) -> list[Verdict]:
    """Ingest lines/s ÷ GoAccess lines/s at the main size, plain and gzip, best of --jobs 1/2."""
    out = []
    for kind, what in (("plain", "plain"), ("gz", "gzip")):
        goaccess = _get(find(rows, "goaccess", big, kind=kind), "lines_per_s")
        per_jobs = {
            j: _ratio(_get(find(rows, "ingest", big, kind=kind, jobs=j), "lines_per_s"), goaccess)
            for j in (1, 2)
        }
        best = max((v for v in per_jobs.values() if v), default=None)
        out.append(
            _verdict(
                f"ingest ≥ {T_GOACCESS:g}× GoAccess lines/s ({what}, {big:,} lines)",
                best,
                best is not None and best >= T_GOACCESS,
                "best of --jobs 1/2: " + ", ".join(f"j{j} {fmt_x(v)}" for j, v in per_jobs.items()),
            )
        )
    return out


def end_to_end(rows: Rows, size: int) -> dict[str, Any] | None:
    """Ingest (the faster --jobs, plain) + report at ``size``, against GoAccess's HTML report."""
    ingests = [r for j in (1, 2) if (r := find(rows, "ingest", size, kind="plain", jobs=j))]
    report = find(rows, "report", size)
    if not ingests or report is None:
        return None
    ingest = min(ingests, key=lambda r: r["wall"])
    total = ingest["wall"] + report["wall"]
    goaccess = _get(find(rows, "goaccess", size, kind="plain"), "wall")
    return {
        "size": size,
        "jobs": ingest["jobs"],
        "ingest_s": ingest["wall"],
        "report_s": report["wall"],
        "total_s": total,
        "goaccess_s": goaccess,
        "ratio": _ratio(goaccess, total),
    }


def end_to_end_target(rows: Rows, big: int) -> Verdict:
    e2e = end_to_end(rows, big)
    value = None if e2e is None else e2e["ratio"]
    detail = "ingest or report missing"
    if e2e is not None:
        detail = (
            f"ingest --jobs {e2e['jobs']} {e2e['ingest_s']:.2f} s + report {e2e['report_s']:.2f} s"
            f" = {e2e['total_s']:.2f} s vs GoAccess {e2e['goaccess_s'] or 0:.2f} s"
        )
    return _verdict(
        f"ingest + report ≥ {T_END_TO_END:g}× faster than GoAccess HTML ({big:,} lines)",
        value,
        value is not None and value >= T_END_TO_END,
        detail,
    )


def scaling(rows: Rows, big: int, small: int) -> list[dict[str, Any]]:
    """Time and peak memory from the second size to the main one, per ingest setting and report."""
    pairs: list[tuple[str, str, dict[str, Any]]] = [
        ("ingest", f"ingest --jobs {j} ({kind})", {"kind": kind, "jobs": j})
        for j, kind in INGEST_SETTINGS
    ]
    pairs.append(("report", "report", {}))
    out = []
    for tool, what, key in pairs:
        lo, hi = find(rows, tool, small, **key), find(rows, tool, big, **key)
        if lo and hi:
            out.append(
                {
                    "tool": tool,
                    "what": what,
                    "small": small,
                    "big": big,
                    "time_ratio": hi["wall"] / lo["wall"],
                    "peak_small": lo["peak_mb"],
                    "peak_big": hi["peak_mb"],
                    "peak_ratio": hi["peak_mb"] / lo["peak_mb"],
                }
            )
    return out


def memory_target(rows: Rows, tool: str, big: int, small: int) -> Verdict:
    """Peak memory of ``tool`` below 1 GB at both sizes and at most 1.15× from small to big."""
    steps = [s for s in scaling(rows, big, small) if s["tool"] == tool]
    name = (
        f"{tool} peak memory < {T_PEAK / GB:g} GB, flat {small:,} → {big:,} lines (≤ {T_FLAT:g}×)"
    )
    if not steps:
        return _verdict(name, None, False, f"{tool} not measured at both sizes")
    worst = max(max(s["peak_small"], s["peak_big"]) for s in steps)
    flat = max(s["peak_ratio"] for s in steps)
    detail = ", ".join(
        f"{s['what']} {s['peak_small']:,.0f} → {s['peak_big']:,.0f} MB ({s['peak_ratio']:.2f}×)"
        for s in steps
    )
    return _verdict(name, flat, worst * MB < T_PEAK and flat <= T_FLAT, detail)


def twelve_month_target(rows: Rows) -> Verdict:
    """Issue 17: the report on the 12-month store ÷ the same report on the month alone ≤ 2."""
    twelve, one = find(rows, "report-12m"), find(rows, "report-1m")
    value = _ratio(_get(twelve, "wall"), _get(one, "wall"))
    detail = "not measured: the 12-month step is not wired into this run (runs.TWELVE_MONTHS)"
    if twelve and one:
        detail = f"12-month store {twelve['wall']:.2f} s vs the month alone {one['wall']:.2f} s"
    return _verdict(
        f"report with the 12-month section ≤ {T_TWELVE:g}× the one-month store's",
        value,
        value is not None and value <= T_TWELVE,
        detail,
    )


def evaluate(rows: Rows, *, big: int, small: int) -> dict[str, Any]:
    """The ratios the reader wants and one verdict per target."""
    alp = _get(find(rows, "alp", big), "lines_per_s")
    throughput = []
    for size in (big, small):
        for j in (1, 2):
            ingest = _get(find(rows, "ingest", size, kind="plain", jobs=j), "lines_per_s")
            ingest_gz = _get(find(rows, "ingest", size, kind="gz", jobs=j), "lines_per_s")
            throughput.append(
                {
                    "size": size,
                    "jobs": j,
                    "vs_goaccess_plain": _ratio(
                        ingest, _get(find(rows, "goaccess", size, kind="plain"), "lines_per_s")
                    ),
                    "vs_goaccess_gz": _ratio(
                        ingest_gz, _get(find(rows, "goaccess", size, kind="gz"), "lines_per_s")
                    ),
                    "vs_alp": _ratio(ingest, alp) if size == big else None,
                }
            )
    cpu = _ratio(
        _get(find(rows, "goaccess", big, kind="plain"), "cpu"),
        _get(find(rows, "ingest", big, kind="plain", jobs=1), "cpu"),
    )
    targets = [
        *throughput_targets(rows, big),
        end_to_end_target(rows, big),
        memory_target(rows, "ingest", big, small),
        memory_target(rows, "report", big, small),
        twelve_month_target(rows),
    ]
    return {
        "big": big,
        "small": small,
        "throughput": throughput,
        "cpu_goaccess_vs_ingest_j1": cpu,
        "end_to_end": [e for s in (big, small) if (e := end_to_end(rows, s))],
        "scaling": scaling(rows, big, small),
        "targets": targets,
    }


def count_check(runs: list[Run]) -> list[str]:
    """Every ingest must store exactly the generator's valid lines as hits, malformed as rejects."""
    checked, wrong = 0, []
    for r in runs:
        summary, expect = r.extra.get("summary") or {}, r.extra.get("expect")
        if r.rc != 0 or r.extra.get("tool") != "ingest" or not summary or not expect:
            continue
        got = [summary.get("lines_ingested"), summary.get("lines_rejected")]
        checked += 1
        if got != list(expect):
            wrong.append(
                f"CHECK: {r.label} stored {got[0]} hits / {got[1]} rejects, the generator "
                f"wrote {expect[0]:,} valid / {expect[1]:,} malformed lines"
            )
    if checked and not wrong:
        return [
            f"every ingest ({checked} runs) stored exactly the generator's valid lines as hits "
            "and its malformed lines as rejects"
        ]
    return wrong[:3]


def disturbed(runs: list[Run]) -> str | None:
    """A note when other processes used the machine while the tools ran."""
    busy = [r.others for r in runs if r.rc == 0]
    if busy and statistics.median(busy) > DISTURBED:
        return (
            f"DISTURBED: other processes used {statistics.median(busy):.2f} cores (median; max "
            f"{max(busy):.2f}) of {os.cpu_count()} while the tools ran: rerun on an idle machine"
        )
    return None
