"""Deterministic, realistic nginx access logs of USUARIO ALIADO for the benchmark.

A benchmark on toy lines measures the wrong thing: real logs mix pages with their assets, events,
bots, IPv6 clients, query strings, authenticated and anonymous users and a few broken lines. This
module writes such a month (March 2022 unless ``--month`` says another, ``-0500``) in nginx
``combined`` format, the same bytes for the same seed, line count and month, plus its gzip copy
(or the gzip file alone), an allies table for the accounts that appear (the same for every
month of a seed), and a ``meta.json`` with the counts the tests and the benchmark check against.

Run ``python benchmarks/genlogs.py --lines 100000 --out benchmarks/work`` to get the files alone.
"""

from __future__ import annotations

import argparse
import calendar
import contextlib
import csv
import datetime as dt
import gzip
import hashlib
import json
import random
import sys
import time
import unicodedata
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

#: Bump when the output for a given (seed, lines) changes; cached files are also regenerated when
#: this file's source changes (see ``source_digest``).
GENERATOR_VERSION = 1
DEFAULT_SEED = 20220301
YEAR, MONTH = 2022, 3
MONTH_TEXT = f"{YEAR:04d}-{MONTH:02d}"
TZ = "-0500"  # Lima, no DST
#: One malformed line per block of this many lines: ~0.1%.
MALFORMED_EVERY = 1000

UBIGEO_CSV = Path(__file__).resolve().parent.parent / "logmetrics" / "data" / "ubigeo_inei.csv"
#: The codes the issue names; always in the allies table (and active).
NAMED_UBIGEOS = ("150101", "080101", "040101", "130101", "200101")

# Office hours in Lima carry most of the traffic; weekends about a third of a weekday.
HOUR_WEIGHTS = (
    0.15, 0.10, 0.08, 0.08, 0.10, 0.20, 0.40, 0.80, 1.60, 2.20, 2.40, 2.30,
    1.80, 1.60, 2.10, 2.30, 2.20, 1.80, 1.20, 0.80, 0.60, 0.45, 0.30, 0.20,
)  # fmt: skip
WEEKEND_FACTOR = 0.3

SITE = "https://aliado.contigo.gob.pe"
HUMAN_UAS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/99.0.4844.51 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/98.0.4758.102 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/99.0.4844.74 Safari/537.36 Edg/99.0.1150.46",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:98.0) Gecko/20100101 Firefox/98.0",
    "Mozilla/5.0 (Windows NT 6.1; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/99.0.4844.51 Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/99.0.4844.51 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/15.3 Safari/605.1.15",
    "Mozilla/5.0 (Linux; Android 11; SM-A125M) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/99.0.4844.58 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 10; Redmi Note 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/98.0.4758.101 Mobile Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 15_3_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/15.3 Mobile/15E148 Safari/604.1",
    # nginx escapes a double quote inside a string as \x22
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/99.0.4844.51 Safari/537.36 \\x22Intranet MIDIS\\x22",
)
# (user agent, ip prefix, kind): crawlers, monitors, scripted clients, scanners, no UA at all.
BOTS = (
    (
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "66.249.66.",
        "crawler",
    ),
    (
        "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
        "40.77.167.",
        "crawler",
    ),
    (
        "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
        "54.36.148.",
        "crawler",
    ),
    (
        "Mozilla/5.0+(compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)",
        "69.162.124.",
        "monitor",
    ),
    ("curl/7.74.0", "10.20.1.", "health"),
    ("python-requests/2.27.1", "10.20.3.", "script"),
    (
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "HeadlessChrome/99.0.4844.51 Safari/537.36",
        "35.199.12.",
        "crawler",
    ),
    ("Mozilla/5.0 zgrab/0.x", "45.148.10.", "scanner"),
    ("-", "185.220.101.", "scanner"),
)
IPV4_PREFIXES = ("190.232.", "181.65.", "200.48.", "179.7.", "201.240.", "161.132.", "10.10.")
IPV6_PREFIXES = ("2800:200:e840:", "2001:1388:1b41:", "2800:4b0:4417:")

PAGES = (  # (path, weight, query maker key)
    ("/inicio", 20, ""),
    ("/beneficiarios", 18, "page"),
    ("/beneficiarios/buscar", 10, "dni"),
    ("/beneficiarios/ficha", 8, "id"),
    ("/reportes", 10, ""),
    ("/solicitudes", 8, "page"),
    ("/perfil", 3, ""),
    ("/ayuda", 3, ""),
    ("/capacitacion", 2, "utm"),
)
REPORT_BUTTONS = (
    ("vigentes", 40),
    ("suspendidos", 25),
    ("desafiliados", 20),
    ("menores-sin-autorizacion", 15),
)
DOWNLOADS = (
    "/descargas/padron-beneficiarios-2022-03.xlsx",
    "/descargas/padron-beneficiarios-2022-02.xlsx",
    "/descargas/manual-usuario-aliado.pdf",
    "/descargas/formato-solicitud.docx",
    "/descargas/reporte-suspendidos.csv",
)
ASSETS = (  # (path, bytes)
    ("/static/css/app.3f9a1c.css", 48213),
    ("/static/js/app.9b2e7d.js", 183921),
    ("/static/js/vendor.51c0aa.js", 402118),
    ("/static/img/logo-contigo.png", 12873),
    ("/static/img/midis.svg", 5102),
    ("/static/fonts/roboto-v20.woff2", 15344),
    ("/favicon.ico", 1150),
)
ERROR_LINES = (
    "2022/03/{d:02d} {h:02d}:{m:02d}:{s:02d} [error] 1123#1123: *{n} upstream timed out (110: "
    "Connection timed out) while reading response header from upstream, client: 190.232.4.1, "
    'server: aliado.contigo.gob.pe, request: "GET /api/reportes/vigentes HTTP/1.1"',
    "PHP Warning:  Undefined index: usuario in /var/www/legacy/index.php on line 42",
    "-",
)


@dataclass(frozen=True)
class Account:
    """One user account of the allies table."""

    usuario: str
    tipo: str
    ubigeo: str
    entidad: str
    active: bool  # inactive allies never log in (UAC must still see them)


def _slug(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "-".join(plain.lower().replace("'", "").split())


def _catalogue() -> list[tuple[str, str, str, str]]:
    with UBIGEO_CSV.open(encoding="utf-8", newline="") as fh:
        return [
            (r["ubigeo"], r["region"], r["provincia"], r["distrito"]) for r in csv.DictReader(fh)
        ]


def build_accounts(seed: int = DEFAULT_SEED) -> list[Account]:
    """The allies table, derived from the seed: ~25 GR, ~150 GL, ~40 OA, 1-3 accounts each."""
    rng = random.Random(seed ^ 0xA11E5)
    rows = _catalogue()
    regions = [r for r in rows if r[0].endswith("0000")]
    districts = [r for r in rows if not r[0].endswith("00")]
    by_code = {r[0]: r for r in rows}
    accounts: list[Account] = []

    def add(tipo: str, ubigeo: str, entidad: str, stem: str, active: bool) -> None:
        for k in range(rng.choice((1, 1, 1, 2, 2, 3))):
            accounts.append(
                Account(stem if k == 0 else f"{stem}-{k + 1}", tipo, ubigeo, entidad, active)
            )

    for code, region, _, _ in regions:
        add("GR", code, f"Gobierno Regional de {region}", f"gr-{_slug(region)}", rng.random() < 0.9)
    named = [by_code[c] for c in NAMED_UBIGEOS]
    others = rng.sample([d for d in districts if d[0] not in NAMED_UBIGEOS], 145)
    for i, (code, _, provincia, distrito) in enumerate(named + others):
        kind = "Provincial" if code.endswith("01") else "Distrital"
        place = provincia if kind == "Provincial" else distrito
        active = i < len(named) or rng.random() < 0.75
        add("GL", code, f"Municipalidad {kind} de {place} - OMAPED", f"omaped-{code}", active)
    oa_kinds = ("Hospital Regional", "Beneficencia", "Asociacion", "ONG Manos Unidas", "CONADIS")
    for i, (code, _, provincia, distrito) in enumerate(rng.sample(districts, 40)):
        kind = oa_kinds[i % len(oa_kinds)]
        place = distrito or provincia
        add("OA", code, f"{kind} {place}", f"oa-{_slug(kind)}-{code}", rng.random() < 0.8)
    # A few entities share a ubigeo with another ally (Entidad disambiguates them).
    lima = by_code["150101"]
    add("OA", lima[0], "Hospital Nacional Dos de Mayo", "oa-hn-dos-de-mayo", True)
    return accounts


def write_allies(path: Path, seed: int = DEFAULT_SEED) -> int:
    """Write the allies CSV (usuario, tipo, ubigeo, entidad) for the generated users."""
    accounts = build_accounts(seed)
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(("usuario", "tipo", "ubigeo", "entidad"))
        for a in accounts:
            w.writerow((a.usuario, a.tipo, a.ubigeo, a.entidad))
    return len(accounts)


# Users seen in the logs but not in the table (the report lists them).
UNKNOWN_USERS = ("prueba", "admin-uti", "omaped-999999")
SCRIPT_USER = "integracion-sis"  # a scripted client with an account: its hits are bot hits


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


Hit = tuple[str, str, int, int, str, str]  # method, uri, status, bytes, referer, kind
Group = list[Hit]


class _Visitor:
    """A client in the pool: its address, agent, user and the groups of hits it still has."""

    __slots__ = ("ip", "ua", "proto", "groups", "user")

    def __init__(self, ip: str, ua: str, proto: str, user: str, groups: list[Group]) -> None:
        self.ip, self.ua, self.proto, self.user = ip, ua, proto, user
        self.groups = groups  # reversed: pop() gives the next group


class _Planner:
    """Plans whole visits (sessions) as groups of hits: a page and its assets, an event…"""

    def __init__(self, rng: random.Random, accounts: list[Account]) -> None:
        self.rng = rng
        active = [a.usuario for a in accounts if a.active]
        # Some accounts are much busier than others; unknown users are rare.
        self.users = active + list(UNKNOWN_USERS)
        self.user_weights = [rng.paretovariate(1.2) for _ in active] + [0.3] * len(UNKNOWN_USERS)
        self.page_paths = [p for p, _, _ in PAGES]
        self.page_weights = [w for _, w, _ in PAGES]
        self.page_query = {p: q for p, _, q in PAGES}
        self.buttons = [b for b, _ in REPORT_BUTTONS]
        self.button_weights = [w for _, w in REPORT_BUTTONS]

    # --- pieces -------------------------------------------------------------------------------

    def _ip(self, v6: bool) -> str:
        r = self.rng
        if v6:
            return f"{r.choice(IPV6_PREFIXES)}{r.randrange(0x10000):x}:{r.randrange(0x10000):x}::{r.randrange(1, 0xFFFF):x}"
        return f"{r.choice(IPV4_PREFIXES)}{r.randrange(256)}.{r.randrange(1, 255)}"

    def _query(self, key: str) -> str:
        r = self.rng
        if key == "page":
            return f"?page={r.randrange(1, 40)}&orden={r.choice(('apellido', 'fecha', 'dni'))}"
        if key == "dni":
            if r.random() < 0.2:
                return f"?q={r.choice(('Pe%C3%B1a', 'Qui%C3%B1ones', 'Mamani+Condori', 'Garc%C3%ADa'))}"
            return f"?dni={r.randrange(10_000_000, 80_000_000)}"
        if key == "id":
            return f"?id={r.randrange(1, 900_000)}"
        if key == "utm":
            return "?utm_source=correo&utm_medium=email&utm_campaign=capacitacion-marzo"
        return ""

    def _assets(self, ref: str, first: bool) -> Group:
        r = self.rng
        k = r.randrange(1, 5) if first else r.randrange(0, 3)
        out: Group = []
        for path, size in r.sample(ASSETS, k):
            cached = not first and r.random() < 0.8
            out.append(("GET", path, 304 if cached else 200, 0 if cached else size, ref, "asset"))
        return out

    def _page(self, path: str, ref: str, first: bool = False, status: int = 200) -> Group:
        r = self.rng
        uri = path + self._query(self.page_query.get(path, ""))
        if status == 200 and not first and r.random() < 0.05:
            status = 304
        size = 0 if status == 304 else r.randrange(4_000, 45_000)
        return [("GET", uri, status, size, ref, "page"), *self._assets(SITE + path, first)]

    # --- visits -------------------------------------------------------------------------------

    def user_visit(self) -> tuple[str, list[Group]]:
        r = self.rng
        user = r.choices(self.users, self.user_weights)[0]
        logged = user.upper() if r.random() < 0.03 else user  # typed in caps at the login form
        login_uri = "/login" if r.random() < 0.8 else "/login?next=%2Fbeneficiarios"
        # Before the login succeeds the hits are anonymous (kind prefixed "anon:").
        pre: list[Group] = [
            [("GET", login_uri, 200, 3_411, "-", "page"), *self._assets(SITE + "/login", True)]
        ]
        if r.random() < 0.06:  # a failed attempt first (not an event)
            pre.append(
                [("POST", "/login", r.choice((200, 401)), 3_502, SITE + "/login", "failed_login")]
            )
        pre = [[(m, u, s, b, ref, "anon:" + k) for m, u, s, b, ref, k in g] for g in pre]
        groups: list[Group] = [
            [
                (
                    "POST",
                    "/login",
                    r.choice((302, 302, 302, 303)),
                    0,
                    SITE + "/login",
                    "ev:ingresos",
                ),
                *self._page("/inicio", SITE + "/login"),
            ]
        ]
        here = "/inicio"
        for _ in range(min(60, int(r.expovariate(1 / 9)) + 1)):
            ref = SITE + here
            x = r.random()
            if x < 0.52:
                here = r.choices(self.page_paths, self.page_weights)[0]
                groups.append(self._page(here, ref))
            elif x < 0.62:
                path = r.choice(DOWNLOADS)
                if r.random() < 0.1:
                    path += "?v=2"
                ok = r.random() < 0.95
                size = r.randrange(20_000, 4_000_000) if ok else 153
                kind = "ev:descargas" if ok else "error"
                groups.append([("GET", path, 200 if ok else 404, size, ref, kind)])
            elif x < 0.76:
                if here != "/reportes":
                    groups.append(self._page("/reportes", ref))
                    here = "/reportes"
                button = r.choices(self.buttons, self.button_weights)[0]
                status = 200 if r.random() < 0.98 else 500
                kind = f"ev:{button}" if status == 200 else "error"
                groups.append(
                    [
                        (
                            "GET",
                            f"/api/reportes/{button}",
                            status,
                            r.randrange(80, 900),
                            SITE + here,
                            kind,
                        )
                    ]
                )
            elif x < 0.83:
                groups.append(self._page("/solicitudes/nueva", ref))
                here = "/solicitudes/nueva"
                s = r.choices((201, 302, 303, 422), (70, 15, 8, 7))[0]
                kind = "ev:solicitudes" if s != 422 else "other"
                groups.append(
                    [("POST", "/solicitudes", s, 0 if s != 422 else 2_210, SITE + here, kind)]
                )
            elif x < 0.91:
                since = f"?since=2022-03-{r.randrange(1, 29):02d}T{r.randrange(24):02d}%3A00"
                groups.append([("GET", "/api/notificaciones" + since, 200, 87, SITE + here, "api")])
            elif x < 0.96:
                groups.append(
                    [("GET", f"/beneficiarios/{r.randrange(1, 9_999_999)}", 404, 153, ref, "error")]
                )
            else:
                groups.append(self._page(here, ref, status=r.choice((500, 502, 200))))
        if r.random() < 0.4:
            groups.append([("GET", "/logout", 302, 0, SITE + here, "other")])
        return logged, pre + groups

    def anon_visit(self) -> list[Group]:
        r = self.rng
        groups: list[Group] = [[("GET", "/", 302, 0, "-", "other")]]
        ref = r.choice(("-", "https://www.google.com/", "https://www.gob.pe/contigo"))
        groups.append(self._page("/login", ref, first=True))
        for _ in range(r.randrange(0, 3)):
            groups.append(
                self._page(r.choice(("/ayuda", "/contacto", "/preguntas-frecuentes")), ref)
            )
        if r.random() < 0.3:
            groups.append([("POST", "/login", 401, 3_502, SITE + "/login", "failed_login")])
        return groups

    def bot_visit(self, kind: str) -> list[Group]:
        r = self.rng
        if kind == "crawler":
            paths = ("/robots.txt", "/", "/login", "/ayuda", "/sitemap.xml", "/contacto")
            return [
                [
                    (
                        "GET",
                        p,
                        200 if p != "/sitemap.xml" else 404,
                        r.randrange(100, 9000),
                        "-",
                        "bot",
                    )
                ]
                for p in r.sample(paths, r.randrange(1, 5))
            ]
        if kind == "monitor":
            return [[("HEAD", "/login", 200, 0, "-", "bot")] for _ in range(r.randrange(1, 4))]
        if kind == "health":
            return [[("GET", "/api/health", 200, 15, "-", "bot")]]
        if kind == "script":  # authenticated integration: matches an event rule, but is a bot
            return [
                [("GET", "/api/reportes/vigentes", 200, 412, "-", "bot")]
                for _ in range(r.randrange(1, 4))
            ]
        probes = (
            "/wp-login.php",
            "/.env",
            "/admin/",
            "/phpmyadmin/",
            "/.git/config",
            "/login?redirect=%2F..%2F..%2Fetc%2Fpasswd",
        )
        return [[("GET", p, 404, 153, "-", "bot")] for p in r.sample(probes, r.randrange(1, 4))]

    def new_visitor(self) -> _Visitor:
        r = self.rng
        x = r.random()
        # Bot visits are short (1-4 hits): over half the visits give ~10% of the lines.
        if x < 0.55:
            ua, prefix, kind = r.choice(BOTS)
            ip = prefix + str(r.randrange(1, 255))
            user = SCRIPT_USER if kind == "script" else "-"
            return _Visitor(ip, ua, "HTTP/1.1", user, self.bot_visit(kind)[::-1])
        ip = self._ip(r.random() < 0.15)
        ua = r.choice(HUMAN_UAS)
        proto = "HTTP/2.0" if r.random() < 0.4 else "HTTP/1.1"
        if x < 0.63:
            return _Visitor(ip, ua, proto, "-", self.anon_visit()[::-1])
        user, groups = self.user_visit()
        # the login page and failed attempts are anonymous; everything after carries the user
        return _Visitor(ip, ua, proto, user, groups[::-1])


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
    planner = _Planner(random.Random(seed + 1), build_accounts(seed))
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
    cur: _Visitor | None = None
    group: Group = []
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
    """Hash of this generator's source: cached logs from an older generator are not reused."""
    return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]


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
    ``plain=False``: the gzip file alone (the plain path returned does not exist)."""
    workdir.mkdir(parents=True, exist_ok=True)
    stem = f"access-{month}-{n_lines}-s{seed}"
    want_plain = plain
    plain, gz_path, meta_path = (
        workdir / f"{stem}.log",
        workdir / f"{stem}.log.gz",
        workdir / f"{stem}.meta.json",
    )
    if meta_path.exists() and (plain.exists() or not want_plain) and gz_path.exists():
        meta = json.loads(meta_path.read_text())
        if (
            meta.get("generator_version") == GENERATOR_VERSION
            and meta.get("source_digest") == source_digest()
            and (not want_plain or meta.get("bytes") == plain.stat().st_size)
            and meta.get("gz_bytes") == gz_path.stat().st_size
        ):
            return plain, gz_path, meta
    if verbose:
        print(
            f"generating {n_lines:,} lines (seed {seed}) into {plain if want_plain else gz_path} …",
            file=sys.stderr,
            flush=True,
        )
    t0 = time.perf_counter()
    meta_path.unlink(missing_ok=True)  # written last: its presence means the files are complete
    meta = generate(plain if want_plain else None, n_lines, seed, gz_path, month=month)
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
    n = write_allies(allies, args.seed)
    print(json.dumps({**meta, "allies": str(allies), "accounts": n}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
