"""User-agent verdicts: crawler or not (crawlerdetect), and device, browser and OS (ua-parser).

Both classifiers cost a fixed amount before their first answer, whatever the month's size:
crawlerdetect compiles one large regex (~0.15 s) and ua-parser builds ~1,300 regexes (~0.3 s),
both holding the GIL. A long-lived process pays that once (``InProcess``). A one-shot
``logmetrics report`` would pay it on its critical path, so the command line starts a
``Helper``: a child process that loads both classifiers on the other core while the report
imports polars and reads the month, then answers the same questions with the same code.
A helper that cannot start, dies, answers nonsense or stalls is dropped and the question is
answered in this process: the report is the same either way.

Imports only the standard library at module level, so the helper starts fast.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import json
import logging
import selectors
import subprocess
import sys
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import IO, Any, Protocol

log = logging.getLogger(__name__)

#: Seconds a helper may take for one answer (its start-up included) before it is dropped, plus
#: ``HELPER_SECONDS_PER_AGENT`` per user agent asked (~100x what one takes), so that a month of
#: a million distinct agents is slow, not abandoned and then classified all over again.
HELPER_TIMEOUT = 60.0
HELPER_SECONDS_PER_AGENT = 0.005


def helper_command() -> list[str]:
    """The helper's command line: this module run by this Python.

    ``-P`` keeps the working directory off the child's ``sys.path`` (a checkout of another
    version there would be imported instead), and the child refuses to serve if the module it
    runs is not this file: a mismatched helper is one that fails, and the report goes on.
    """
    return [sys.executable, "-P", "-m", "logmetrics.agents", str(Path(__file__).resolve())]

DESKTOP_OS = frozenset({
    "Windows", "Mac OS X", "macOS", "Linux", "Ubuntu", "Chrome OS", "ChromeOS", "Fedora",
    "Debian", "FreeBSD", "OpenBSD", "NetBSD", "Solaris", "Red Hat", "SUSE", "Mint", "Arch Linux",
})  # fmt: skip
MOBILE_OS = frozenset({
    "iOS", "Android", "Windows Phone", "BlackBerry OS", "KaiOS", "Firefox OS", "Symbian OS",
    "Tizen", "HarmonyOS", "Sailfish", "webOS", "Windows Mobile",
})  # fmt: skip
TABLET_MARKERS = ("ipad", "tablet", "kindle", "silk", "playbook", "tab")
OTHER = "Otro"

Device = tuple[str, str, str]


@lru_cache(maxsize=1)
def _crawler_detect() -> Any:
    """One detector per process: it compiles a large regex when built."""
    from crawlerdetect import CrawlerDetect

    return CrawlerDetect()


def is_crawler(user_agent: str) -> bool:
    """crawlerdetect's verdict on one (non-blank) user agent."""
    return bool(_crawler_detect().isCrawler(user_agent))


def device(user_agent: str | None) -> Device:
    """(device category, browser family, OS family) of one user agent, in Spanish categories."""
    import ua_parser

    ua = user_agent or ""
    result = ua_parser.parse(ua)
    browser = result.user_agent.family if result.user_agent else OTHER
    os_family = result.os.family if result.os else OTHER
    device_family = result.device.family if result.device else ""
    browser = OTHER if browser in ("", "Other") else browser
    os_name = OTHER if os_family in ("", "Other") else os_family
    lowered = f"{device_family} {ua}".lower()
    if device_family in ("Spider",):
        category = OTHER
    elif "ipad" in lowered or any(m in device_family.lower() for m in TABLET_MARKERS):
        category = "Tableta"
    elif os_family == "Android" and "mobile" not in ua.lower():
        category = "Tableta"  # Android tablets drop "Mobile" from the user agent
    elif os_family in MOBILE_OS or "mobi" in ua.lower():
        category = "Móvil"
    elif os_family in DESKTOP_OS:
        category = "Escritorio"
    else:
        category = OTHER
    return category, browser, os_name


class Classifier(Protocol):
    """Answers for many user agents at once, in their order."""

    def crawlers(self, user_agents: Sequence[str]) -> list[bool]: ...

    def devices(self, user_agents: Sequence[str | None]) -> list[Device]: ...


class InProcess:
    """Both classifiers in this process (loaded on first use, then kept)."""

    def crawlers(self, user_agents: Sequence[str]) -> list[bool]:
        return [is_crawler(ua) for ua in user_agents]

    def devices(self, user_agents: Sequence[str | None]) -> list[Device]:
        return [device(ua) for ua in user_agents]


IN_PROCESS = InProcess()


class Helper:
    """The same answers from a child process started now; see the module docstring.

    Use as a context manager (or call ``close``): the child is then stopped and reaped.
    """

    def __init__(self) -> None:
        self._proc: subprocess.Popen[bytes] | None = None
        self._pool = cf.ThreadPoolExecutor(1, thread_name_prefix="logmetrics-agents")
        try:
            self._proc = subprocess.Popen(
                helper_command(),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
            )
        except (OSError, ValueError) as exc:
            log.debug("user-agent helper did not start (%s); classifying in this process", exc)
            return
        log.debug("user-agent helper started (pid %d)", self._proc.pid)

    @property
    def alive(self) -> bool:
        return self._proc is not None

    def crawlers(self, user_agents: Sequence[str]) -> list[bool]:
        got = self._ask("crawlers", list(user_agents), lambda v: isinstance(v, bool))
        return IN_PROCESS.crawlers(user_agents) if got is None else got

    def devices(self, user_agents: Sequence[str | None]) -> list[Device]:
        got = self._ask("devices", list(user_agents), _is_device)
        return IN_PROCESS.devices(user_agents) if got is None else [tuple(v) for v in got]

    def _ask(
        self, op: str, user_agents: list[Any], valid: Callable[[Any], bool]
    ) -> list[Any] | None:
        """The helper's answer (one valid item per user agent), or None once it has failed."""
        if self._proc is None:
            return None
        if not user_agents:
            return []
        line = json.dumps([op, user_agents]).encode("ascii") + b"\n"
        try:
            limit = HELPER_TIMEOUT + HELPER_SECONDS_PER_AGENT * len(user_agents)
            answer = self._pool.submit(_exchange, self._proc, line).result(limit)
            got = json.loads(answer)
            if not isinstance(got, list) or len(got) != len(user_agents):
                raise ValueError(f"{len(answer)}-byte answer does not match the question")
            if not all(map(valid, got)):
                raise ValueError(f"an answer to {op!r} is not one")
            return got
        except (OSError, ValueError, cf.TimeoutError) as exc:
            log.debug("user-agent helper failed (%s); classifying in this process", exc or "timeout")
            self.close()
            return None

    def close(self) -> None:
        """Stop the child and reap it (it holds nothing worth a graceful stop, and it may still
        be loading a classifier nobody will ask)."""
        proc, self._proc = self._proc, None
        if proc is not None:
            proc.kill()
            for stream in (proc.stdin, proc.stdout):
                with contextlib.suppress(OSError):
                    if stream is not None:
                        stream.close()
            proc.wait()
        self._pool.shutdown(wait=True)

    def __enter__(self) -> Helper:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _is_device(v: Any) -> bool:
    return isinstance(v, list) and len(v) == 3 and all(isinstance(s, str) for s in v)


def _exchange(proc: subprocess.Popen[bytes], line: bytes) -> bytes:
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(line)
    proc.stdin.flush()
    answer = proc.stdout.readline()
    if not answer.endswith(b"\n"):
        raise ValueError(f"helper exited (code {proc.poll()})")
    return answer


# --- the helper process ------------------------------------------------------------------------


def serve(stdin: IO[bytes], stdout: IO[bytes]) -> None:
    """Answer ``[op, [user agents]]`` lines until end of input, loading crawlerdetect, then
    ua-parser while no question waits (questions for it load it first)."""
    is_crawler("Mozilla/5.0")
    ua_loaded = False
    waiting = selectors.DefaultSelector()
    waiting.register(stdin, selectors.EVENT_READ)
    while True:
        if not ua_loaded and not waiting.select(timeout=0):
            device("Mozilla/5.0")
            ua_loaded = True
            continue
        line = stdin.readline()
        if not line:
            return
        op, user_agents = json.loads(line)
        if op == "crawlers":
            answer: list[Any] = IN_PROCESS.crawlers(user_agents)
        elif op == "devices":
            ua_loaded = True
            answer = IN_PROCESS.devices(user_agents)
        else:
            raise ValueError(f"unknown question {op!r}")
        stdout.write(json.dumps(answer).encode("ascii") + b"\n")
        stdout.flush()


def main(argv: Sequence[str]) -> int:
    """The helper process: serve, if this is the module the parent runs (see helper_command)."""
    if len(argv) != 1 or Path(argv[0]).resolve() != Path(__file__).resolve():
        print(f"logmetrics.agents: not the parent's module ({__file__})", file=sys.stderr)
        return 2
    with contextlib.suppress(BrokenPipeError, KeyboardInterrupt):
        serve(sys.stdin.buffer, sys.stdout.buffer)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
