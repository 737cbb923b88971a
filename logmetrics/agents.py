"""User-agent verdicts: crawler or not (crawlerdetect), and device, browser and OS (ua-parser).

Both are asked once per distinct user agent, never per row (a day's hits carry far fewer
distinct user agents than rows). crawlerdetect takes ~2.6 ms for a user agent it has not seen and
remembers its last 1,024 verdicts per detector (its own memo), so one detector per process
(``_crawler_detect``) answers a user agent seen on many days of a month once.
"""

from __future__ import annotations

from functools import lru_cache

import ua_parser
from crawlerdetect import CrawlerDetect

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
def _crawler_detect() -> CrawlerDetect:
    """One detector per process: building it compiles a large regex (~0.15 s), and it keeps
    the memo of its verdicts."""
    return CrawlerDetect()


def is_crawler(user_agent: str) -> bool:
    """crawlerdetect's verdict on one (non-blank) user agent."""
    return bool(_crawler_detect().isCrawler(user_agent))


def device(user_agent: str | None) -> Device:
    """(device category, browser family, OS family) of one user agent, in Spanish categories."""
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
