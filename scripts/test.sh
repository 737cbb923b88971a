#!/usr/bin/env bash
# Install everything the test suite needs on a fresh Debian machine, then run the whole suite.
# System packages (Chromium for the browser test, poppler's pdftotext to read the page it
# prints, LibreOffice for the workbook check, GNU time for the benchmarks, faketime to run
# `report --month previous` on a chosen date, systemd for `systemd-analyze verify` on the shipped
# units) are installed with apt-get when run as root; without them those tests skip with their
# reason. Python dependencies go into ./.venv.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v pdftotext >/dev/null 2>&1 || need+=(poppler-utils)
command -v libreoffice >/dev/null 2>&1 || command -v soffice >/dev/null 2>&1 || need+=(libreoffice-calc-nogui)
[ -x /usr/bin/time ] || need+=(time)
command -v faketime >/dev/null 2>&1 || need+=(faketime)
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "test.sh: installing ${need[*]} with apt-get" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq || true
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null \
      || echo "test.sh: apt-get could not install ${need[*]}; the tests that need them will skip" >&2
  else
    echo "test.sh: not root; ${need[*]} missing, the tests that need them will skip" >&2
  fi
fi

python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[test]'
.venv/bin/ruff check logmetrics tests scripts benchmarks
.venv/bin/mypy
exec .venv/bin/python -m pytest "$@"
