"""apache-log-parser's normal use, one call per line, over the first SAMPLE lines of PATH.

The benchmark's reference row (no target): it times the parse loop alone, without the
interpreter's start-up or the file's read, which is the kindest measure of it, and prints
``{"lines", "ok", "bad", "seconds"}`` as JSON. Usage: ``python alp_loop.py PATH SAMPLE``.
"""

from __future__ import annotations

import itertools
import json
import sys
import time

import apache_log_parser

APACHE_FORMAT = '%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i"'


def main(path: str, sample: int) -> int:
    """Parse the sample, print the counts and the loop's seconds."""
    parser = apache_log_parser.make_parser(APACHE_FORMAT)
    ok = bad = 0
    with open(path, encoding="utf-8", errors="replace") as fh:
        lines = list(itertools.islice(fh, sample))
    t0 = time.perf_counter()
    for line in lines:
        try:
            parser(line)
            ok += 1
        except apache_log_parser.LineDoesntMatchException:
            bad += 1
    seconds = time.perf_counter() - t0
    print(json.dumps({"lines": len(lines), "ok": ok, "bad": bad, "seconds": seconds}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], int(sys.argv[2])))
