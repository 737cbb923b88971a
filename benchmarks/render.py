"""The benchmark's rows, ratios and verdicts as a terminal table and as Markdown for the README."""

from __future__ import annotations

from typing import Any

from benchmarks.runs import size_name
from benchmarks.verdicts import Rows, Verdict, fmt_x

HEAD = ("tool", "lines/s", "MB/s", "wall s", "CPU s", "peak MB", "max RSS MB", "runs")


def _fmt(v: float | None, spec: str) -> str:
    return "n/a" if v is None else format(v, spec)


def machine_line(m: dict[str, Any]) -> str:
    return (
        f"{m.get('cpu')}, {m.get('cores')} cores, {m.get('ram_gb')} GB RAM; Python "
        f"{m.get('python')}, polars {m.get('polars')}, pyarrow {m.get('pyarrow')}, "
        f"{m.get('goaccess', 'GoAccess missing')}, apache-log-parser {m.get('apache_log_parser')}; "
        f"logmetrics {m.get('logmetrics')} ({m.get('logmetrics_commit', '?')})"
    )


def table(rows: Rows) -> list[tuple[str, ...]]:
    """One line per tool and size: medians, worst peak memory, runs that succeeded."""
    order = sorted(rows.values(), key=lambda r: (-(r["size"] or 0), list(rows).index(r["label"])))
    return [
        (
            r["label"],
            _fmt(r.get("lines_per_s"), ",.0f"),
            _fmt(r.get("mb_per_s"), ",.1f"),
            _fmt(r.get("wall"), ".2f"),
            _fmt(r.get("cpu"), ".2f"),
            _fmt(r.get("peak_mb"), ",.0f"),
            _fmt(r.get("maxrss_mb"), ",.0f"),
            f"{r['runs'] - r['failed']}/{r['runs']}" + (" FAILED" if r["failed"] else ""),
        )
        for r in order
    ]


def ratio_lines(ev: dict[str, Any]) -> list[str]:
    """The ratios behind the verdicts, and the ones shown for the reader only."""
    out = []
    for t in ev["throughput"]:
        if t["vs_goaccess_plain"] is None and t["vs_alp"] is None:
            continue
        line = f"{size_name(t['size'])}: ingest --jobs {t['jobs']}: "
        line += f"{fmt_x(t['vs_goaccess_plain'])} GoAccess (plain)"
        if t["vs_goaccess_gz"] is not None:
            line += f", {fmt_x(t['vs_goaccess_gz'])} GoAccess (gz)"
        if t["vs_alp"] is not None:
            line += f", {fmt_x(t['vs_alp'])} apache-log-parser (reference)"
        out.append(line)
    if ev["cpu_goaccess_vs_ingest_j1"] is not None:
        out.append(
            f"{size_name(ev['big'])}: CPU seconds (robust to a busy machine): GoAccess (plain) "
            f"uses {fmt_x(ev['cpu_goaccess_vs_ingest_j1'])} the CPU of ingest --jobs 1"
        )
    for e in ev["end_to_end"]:
        line = f"{size_name(e['size'])}: ingest --jobs {e['jobs']} + report: {e['total_s']:.2f} s"
        if e["ratio"] is not None:
            line += f"; GoAccess HTML {e['goaccess_s']:.2f} s, {fmt_x(e['ratio'])} that time"
        out.append(line)
    for s in ev["scaling"]:
        out.append(
            f"{size_name(s['small'])} → {size_name(s['big'])}: {s['what']}: time "
            f"×{s['time_ratio']:.2f}, peak {s['peak_small']:,.0f} → {s['peak_big']:,.0f} MB "
            f"(×{s['peak_ratio']:.2f})"
        )
    return out


def render(
    machine: dict[str, Any],
    rows: Rows,
    ev: dict[str, Any],
    notes: list[str],
    *,
    quick: bool,
) -> tuple[str, str]:
    """The plain-text report for the terminal and the Markdown for the README."""
    body = table(rows)
    ratios = ratio_lines(ev)
    targets: list[Verdict] = ev["targets"]
    title = "targets (issue 15; the 12-month row: issue 17)"
    if quick:
        title += (
            f": --quick smoke run at {ev['big']:,} and {ev['small']:,} lines, "
            "the verdicts only show the code works and mean nothing"
        )
    mline = machine_line(machine)
    widths = [max(len(str(x)) for x in col) for col in zip(HEAD, *body, strict=True)]

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    txt = [f"machine: {mline}", "", line(HEAD), line(tuple("-" * w for w in widths))]
    txt += [line(t) for t in body]
    txt += ["", "ratios (medians):", *(f"  {x}" for x in ratios)]
    txt += ["", f"{title}:"]
    txt += [f"  {t.verdict:<4}  {t.target}: {t.detail}" for t in targets]
    if notes:
        txt += ["", "notes:", *(f"  - {n}" for n in notes)]

    md = [f"Machine: {mline}.", ""]
    md.append("| " + " | ".join(HEAD) + " |")
    md.append("| " + " | ".join(["---"] + ["---:"] * (len(HEAD) - 1)) + " |")
    md += ["| " + " | ".join(c.replace("|", "\\|") for c in t) + " |" for t in body]
    md += ["", *(f"- {x}" for x in ratios)]
    md += ["", f"{title[0].upper()}{title[1:]}:", ""]
    md += ["| target | verdict | measured |", "| --- | --- | --- |"]
    md += [f"| {t.target} | {t.verdict} | {t.detail} |" for t in targets]
    if notes:
        md += ["", *(f"- {n}" for n in notes)]
    return "\n".join(txt) + "\n", "\n".join(md) + "\n"
