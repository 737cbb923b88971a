"""User-agent verdicts: crawlerdetect's and ua-parser's, in Spanish device categories."""

from __future__ import annotations

from logmetrics.agents import device, is_crawler

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0 Safari/537.36"
)
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 15_3 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/15.3 Mobile/15E148 Safari/604.1"
)
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
AGENTS = [CHROME, IPHONE, GOOGLEBOT, "curl/7.81.0", "python-requests/2.31", "Mozilla/5.0 ñandú"]


def test_verdicts() -> None:
    """crawlerdetect flags crawlers and scripts, not browsers; ua-parser names the device."""
    assert [is_crawler(ua) for ua in AGENTS] == [False, False, True, True, True, False]
    assert [device(ua) for ua in (CHROME, IPHONE, None)] == [
        ("Escritorio", "Chrome", "Windows"),
        ("Móvil", "Mobile Safari", "iOS"),
        ("Otro", "Otro", "Otro"),
    ]
