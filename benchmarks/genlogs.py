"""Deterministic, realistic nginx access logs of USUARIO ALIADO for the benchmark.

A benchmark on toy lines measures the wrong thing: real logs mix pages with their assets, events,
bots, IPv6 clients, query strings, authenticated and anonymous users and a few broken lines. This
module writes such a month (March 2022 unless ``--month`` says another, ``-0500``) in nginx ``combined`` format, the same bytes
for the same seed and line count, plus its gzip copy and a ``meta.json`` with the counts the
tests and the benchmark check against; ``traffic`` knows the site (pages, bots, the accounts
and their allies table) and plans the visits this module spreads over the month's hours.

Run ``python benchmarks/genlogs.py --lines 100000 --out benchmarks/work`` to get the files alone.
"""

from __future__ import annotations

import argparse
import calendar
import contextlib
import datetime as dt
import gzip
import hashlib
import json
import random
import sys
import time
from collections import Counter
from pathlib import Path

if __name__ == "__main__":  # run as a script: import the package, not its modules one by one
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from benchmarks import traffic  # noqa: E402

#: Bump when the output for a given (seed, lines) changes; cached files are also regenerated when
#: the generator's source changes (see ``source_digest``).
GENERATOR_VERSION = 1
DEFAULT_SEED = 20220301
YEAR, MONTH = 2022, 3
MONTH_TEXT = f"{YEAR:04d}-{MONTH:02d}"
TZ = "-0500"  # Lima, no DST
#: One malformed line per block of this many lines: ~0.1%.
MALFORMED_EVERY = 1000

# Office hours in Lima carry most of the traffic; weekends about a third of a weekday.
HOUR_WEIGHTS = (
    0.15, 0.10, 0.08, 0.08, 0.10, 0.20, 0.40, 0.80, 1.60, 2.20, 2.40, 2.30,
    1.80, 1.60, 2.10, 2.30, 2.20, 1.80, 1.20, 0.80, 0.60, 0.45, 0.30, 0.20,
)  # fmt: skip
WEEKEND_FACTOR = 0.3

ERROR_LINES = (
    "2022/03/{d:02d} {h:02d}:{m:02d}:{s:02d} [error] 1123#1123: *{n} upstream timed out (110: "
    "Connection timed out) while reading response header from upstream, client: 190.232.4.1, "
    'server: aliado.contigo.gob.pe, request: "GET /api/reportes/vigentes HTTP/1.1"',
    "PHP Warning:  Undefined index: usuario in /var/www/legacy/index.php on line 42",
    "-",
)


def _hour_counts(n_lines: int, year: int = YEAR, month: int = MONTH) -> list[int]:
    """Lines per hour of the month, summing to exactly ``n_lines`` (largest remainder)."""
    days = calendar.monthrange(year, month)[1]
    weights = []
    for d in range(days):
        weekend = dt.date(year, month, d + 1).weekday() >= 5
        for h in range(24):
            weights.append(HOUR_WEIGHTS[h] * (WEEKEND_FACTOR if weekend else 1.0))
    total = sum(weights)
    exact = [n_lines * w / total for w in weights]
    counts = [int(x) for x in exact]
    short = n_lines - sum(counts)
    order = sorted(range(len(exact)), key=lambda i: (counts[i] - exact[i], i))
    for i in order[:short]:
        counts[i] += 1
    return counts


def _malformed(rng: random.Random, line: str, d: int, h: int, m: int, s: int, n: int) -> str:
    """A line no combined-format parser accepts: cut before the status, stray text, bytes."""
    x = rng.random()
    if x < 0.6:  # the writer died mid-line: cut inside the timestamp or the request
        cut = rng.randrange(len(line.split(" ", 1)[0]) + 1, line.index('" ') + 1)
        return line[:cut] + "\n"
    if x < 0.9:
        return rng.choice(ERROR_LINES).format(d=d, h=h, m=m, s=s, n=n) + "\n"
    # binary junk (invalid UTF-8 as surrogate escapes, written back as raw bytes)
    return (
        "\udcff\udcfe\x00\x01garbage "
        + "".join(chr(0xDC80 + rng.randrange(128)) for _ in range(12))
        + "\n"
    )


def generate(
    path: Path | None,
    n_lines: int,
    seed: int = DEFAULT_SEED,
    gz_path: Path | None = None,
    *,
    month: str = MONTH_TEXT,
) -> dict:
    """Write ``n_lines`` lines of ``month`` (``YYYY-MM``) to ``path`` and a gzip copy to
    ``gz_path`` (either may be None); return the counts as a dict. The traffic is the seed's
    whatever the month: only the timestamps differ."""
    year, mon = (int(x) for x in month.split("-"))
    rng = random.Random(seed)
    planner = traffic.Planner(random.Random(seed + 1), traffic.build_accounts(seed))
    counts = _hour_counts(n_lines, year, mon)
    seconds = sum(1 for c in counts if c) * 3600
    # Concurrent visitors: enough that a visitor's consecutive groups are ~45 s apart by day.
    pool_size = max(4, min(400, round(18 * n_lines / max(seconds, 1))))
    pool = [planner.new_visitor() for _ in range(pool_size)]
    kinds: Counter[str] = Counter()
    ipv6 = with_query = authenticated = 0
    sha = hashlib.sha256()
    gz_raw = gz_path.open("wb") if gz_path else None
    gz = (
        gzip.GzipFile(filename="", mode="wb", fileobj=gz_raw, mtime=0, compresslevel=6)
        if gz_raw
        else None
    )
    size = 0
    i = 0
    next_bad = rng.randrange(MALFORMED_EVERY)
    cur: traffic.Visitor | None = None
    group: traffic.Group = []
    buf: list[str] = []
    try:
        with path.open("wb") if path else contextlib.nullcontext(None) as out:

            def flush() -> None:
                nonlocal size
                data = "".join(buf).encode("utf-8", "surrogateescape")
                buf.clear()
                if out:
                    out.write(data)
                sha.update(data)
                size += len(data)
                if gz:
                    gz.write(data)

            for hour, count in enumerate(counts):
                if not count:
                    continue
                day, hh = divmod(hour, 24)
                prefix = f"[{day + 1:02d}/{calendar.month_abbr[mon]}/{year}:{hh:02d}:"
                last_sec = -1
                stamp = ""
                for j in range(count):
                    sec = j * 3600 // count
                    if sec != last_sec:
                        last_sec = sec
                        mm, ss = divmod(sec, 60)
                        stamp = f"{prefix}{mm:02d}:{ss:02d} {TZ}]"
                    if not group:
                        slot = rng.randrange(pool_size)
                        cur = pool[slot]
                        if not cur.groups:
                            cur = pool[slot] = planner.new_visitor()
                        group = cur.groups.pop()
                        group.reverse()
                    assert cur is not None
                    method, uri, status, nbytes, ref, kind = group.pop()
                    user = cur.user
                    if kind.startswith("anon:"):
                        user, kind = "-", kind[5:]
                    line = (
                        f'{cur.ip} - {user} {stamp} "{method} {uri} {cur.proto}" {status} {nbytes} '
                        f'"{ref}" "{cur.ua}"\n'
                    )
                    if i == next_bad:
                        mm, ss = divmod(sec, 60)
                        line = _malformed(rng, line, day + 1, hh, mm, ss, i)
                        kinds["malformed"] += 1
                    else:
                        kinds[kind] += 1
                        if ":" in cur.ip:
                            ipv6 += 1
                        if "?" in uri:
                            with_query += 1
                        if user != "-":
                            authenticated += 1
                    buf.append(line)
                    i += 1
                    if i % MALFORMED_EVERY == 0:
                        next_bad = i + rng.randrange(MALFORMED_EVERY)
                    if len(buf) >= 20_000:
                        flush()
            flush()
    finally:
        if gz:
            gz.close()
        if gz_raw:
            gz_raw.close()
    malformed = kinds["malformed"]
    return {
        "generator_version": GENERATOR_VERSION,
        "seed": seed,
        "lines": n_lines,
        "bytes": size,
        "sha256": sha.hexdigest(),
        "month": month,
        "malformed": malformed,
        "valid": n_lines - malformed,
        "kinds": dict(sorted(kinds.items())),
        "ipv6": ipv6,
        "with_query": with_query,
        "authenticated": authenticated,
        "pool_size": pool_size,
        "file": path.name if path else None,
        "gz_file": gz_path.name if gz_path else None,
        "gz_bytes": gz_path.stat().st_size if gz_path else None,
    }


def source_digest() -> str:
    """Hash of the generator's source: cached logs from an older generator are not reused."""
    h = hashlib.sha256(Path(__file__).read_bytes())
    h.update(Path(traffic.__file__).read_bytes())
    return h.hexdigest()[:16]


def ensure_logs(
    workdir: Path,
    n_lines: int,
    seed: int = DEFAULT_SEED,
    *,
    verbose: bool = True,
    month: str = MONTH_TEXT,
    plain: bool = True,
) -> tuple[Path, Path, dict]:
    """Generate once per (seed, lines, month, generator version); later calls reuse the files.

    With ``plain=False`` the gzip copy alone is written (or, cached, enough): the plain path
    returned may not exist (``restore_plain`` brings it back from the gzip copy).
    """
    need_plain = plain
    workdir.mkdir(parents=True, exist_ok=True)
    stem = f"access-{month}-{n_lines}-s{seed}"
    plain, gz_path, meta_path = (
        workdir / f"{stem}.log",
        workdir / f"{stem}.log.gz",
        workdir / f"{stem}.meta.json",
    )
    if meta_path.exists() and gz_path.exists() and (plain.exists() or not need_plain):
        meta = json.loads(meta_path.read_text())
        if (
            meta.get("generator_version") == GENERATOR_VERSION
            and meta.get("source_digest") == source_digest()
            and (not plain.exists() or meta.get("bytes") == plain.stat().st_size)
            and meta.get("gz_bytes") == gz_path.stat().st_size
        ):
            return plain, gz_path, meta
    if verbose:
        print(
            f"generating {n_lines:,} lines (seed {seed}) into {plain if need_plain else gz_path} …",
            file=sys.stderr,
            flush=True,
        )
    t0 = time.perf_counter()
    meta_path.unlink(missing_ok=True)  # written last: its presence means the files are complete
    meta = generate(plain if need_plain else None, n_lines, seed, gz_path, month=month)
    meta["generate_seconds"] = round(time.perf_counter() - t0, 2)
    meta["source_digest"] = source_digest()
    meta_path.write_text(json.dumps(meta, indent=2) + "\n")
    if verbose:
        print(
            f"generated {meta['bytes'] / 1e6:,.1f} MB ({meta['gz_bytes'] / 1e6:,.1f} MB gzip) "
            f"in {meta['generate_seconds']:.1f} s",
            file=sys.stderr,
        )
    return plain, gz_path, meta


def restore_plain(gz_path: Path, plain: Path, meta: dict) -> None:
    """Write ``plain`` back from its gzip copy, checked against the generator's SHA-256."""
    sha = hashlib.sha256()
    tmp = plain.with_name(plain.name + ".part")
    with gzip.open(gz_path, "rb") as src, tmp.open("wb") as out:
        while block := src.read(1 << 20):
            sha.update(block)
            out.write(block)
    if sha.hexdigest() != meta["sha256"]:
        tmp.unlink()
        raise ValueError(f"{gz_path} does not hold the generated log (SHA-256 differs)")
    tmp.replace(plain)


def main(argv: list[str] | None = None) -> int:
    """Generate the log files (and allies table) without running the benchmark."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--lines", type=int, default=1_000_000)
    p.add_argument("--seed", type=int, default=DEFAULT_SEED)
    p.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "work")
    p.add_argument("--month", default=MONTH_TEXT, help="the month to generate (YYYY-MM)")
    p.add_argument("--gzip-only", action="store_true", help="write the gzip file alone")
    args = p.parse_args(argv)
    plain, gz_path, meta = ensure_logs(
        args.out, args.lines, args.seed, month=args.month, plain=not args.gzip_only
    )
    allies = args.out / f"aliados-s{args.seed}.csv"
    n = traffic.write_allies(allies, args.seed)
    print(json.dumps({**meta, "allies": str(allies), "accounts": n}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
