"""User-agent verdicts, in this process or from the helper process the command line starts."""

from __future__ import annotations

import io
import json
import os
import sys
from pathlib import Path

import pytest

from logmetrics import agents
from logmetrics.agents import IN_PROCESS, Helper

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0 Safari/537.36"
)
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 15_3 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/15.3 Mobile/15E148 Safari/604.1"
)
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
WRONG_TYPE = "import json, sys; q = json.loads(sys.stdin.readline()); print([1] * len(q[1]))"
AGENTS = [CHROME, IPHONE, GOOGLEBOT, "curl/7.81.0", "python-requests/2.31", "Mozilla/5.0 ñandú"]


def test_in_process_verdicts() -> None:
    """crawlerdetect flags crawlers and scripts, not browsers; ua-parser names the device."""
    assert IN_PROCESS.crawlers(AGENTS) == [False, False, True, True, True, False]
    assert IN_PROCESS.devices([CHROME, IPHONE, None]) == [
        ("Escritorio", "Chrome", "Windows"),
        ("Móvil", "Mobile Safari", "iOS"),
        ("Otro", "Otro", "Otro"),
    ]


def test_helper_answers_as_this_process_does() -> None:
    """The helper process gives the in-process answers, in order, and is reaped on close."""
    with Helper() as helper:
        assert helper.crawlers(AGENTS) == IN_PROCESS.crawlers(AGENTS)
        asked = [*AGENTS, None, ""]
        assert helper.devices(asked) == IN_PROCESS.devices(asked)
        assert helper.crawlers([]) == []
        assert helper.alive  # it answered: nothing fell back
        proc = helper._proc
    assert proc is not None and proc.returncode is not None
    assert not helper.alive


@pytest.mark.parametrize(
    "command",
    [
        [sys.executable, "-c", "print('nonsense')"],  # answers garbage
        [sys.executable, "-c", "import sys; sys.stdin.readline(); print('[true]')"],  # too few
        [sys.executable, "-c", WRONG_TYPE],  # as many answers as asked, not verdicts
        [sys.executable, "-c", "import sys; sys.exit(3)"],  # dies
        [sys.executable, "-c", "import time; time.sleep(60)"],  # stalls
        ["/nonexistent/python"],  # cannot start
        [sys.executable, "-P", "-m", "logmetrics.agents", "/elsewhere/agents.py"],  # not ours
    ],
    ids=["garbage", "short", "wrong-type", "dies", "stalls", "missing", "other-module"],
)
def test_a_failing_helper_falls_back_to_this_process(monkeypatch, command) -> None:
    """A helper that cannot start, dies, stalls or answers nonsense is dropped (and reaped);
    the answers come from this process and are the same."""
    monkeypatch.setattr(agents, "helper_command", lambda: command)
    monkeypatch.setattr(agents, "HELPER_TIMEOUT", 1.0)
    with Helper() as helper:
        assert helper.crawlers(AGENTS) == IN_PROCESS.crawlers(AGENTS)
        assert not helper.alive
        assert helper.devices([CHROME]) == [("Escritorio", "Chrome", "Windows")]


def test_serve_answers_each_question_line() -> None:
    """The helper's loop answers one JSON line per question, until end of input."""
    questions = [["crawlers", [CHROME, GOOGLEBOT]], ["devices", [IPHONE, None]]]
    r, w = os.pipe()  # serve() polls a real file for waiting questions
    os.write(w, b"".join(json.dumps(q).encode() + b"\n" for q in questions))
    os.close(w)
    out = io.BytesIO()
    with open(r, "rb") as stdin:
        agents.serve(stdin, out)
    answers = [json.loads(line) for line in out.getvalue().splitlines()]
    assert answers == [[False, True], [["Móvil", "Mobile Safari", "iOS"], ["Otro", "Otro", "Otro"]]]


def test_helper_ignores_a_logmetrics_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A report run from a directory holding another logmetrics (a checkout of another version)
    still gets its helper answers from its own module."""
    fake = tmp_path / "logmetrics"
    fake.mkdir()
    (fake / "__init__.py").write_text("", encoding="utf-8")
    (fake / "agents.py").write_text(
        "import sys\nfor line in sys.stdin:\n    print('[' + ', '.join(['true'] * 99) + ']',"
        " flush=True)\n",
        encoding="utf-8",
    )
    monkeypatch.chdir(tmp_path)
    with Helper() as helper:
        assert helper.crawlers([CHROME, IPHONE]) == [False, False]
        assert helper.alive
