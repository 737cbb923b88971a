#!/usr/bin/env python3
"""Generate the shipped sample month: March 2022 of USUARIO ALIADO access logs and its allies table.

Deterministic: a fixed seed, no clock, no hash ordering; gzip members carry ``mtime=0`` and no
file name, so re-running writes byte-identical files. Run from the repository top::

    python scripts/make_fixtures.py            # writes fixtures/aliados.csv and fixtures/logs/
    python scripts/make_fixtures.py --out DIR  # the same files under DIR

What it writes (see fixtures/README.md for the month's content and the hand-derived cells):

- ``aliados.csv``: the allies lookup table (``usuario,tipo,ubigeo,entidad``).
- ``logs/access.log.3.gz`` … ``logs/access.log``: server ``app1`` (UTC-05:00, Lima time) in
  Apache/nginx "combined" format, rotated weekly on Sundays at 06:25 like logrotate leaves them
  (``delaycompress``: the newest rotated file stays plain).
- ``logs/app2-access.log``: server ``app2`` behind the same balancer, which logged in UTC.

The traffic of four allies is scripted hit by hit (the ``SCRIPTED`` blocks below) so that their
matrix cells can be derived by hand; random background traffic never uses their accounts.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import gzip
import io
import random
from dataclasses import dataclass
from pathlib import Path

SEED = 20220331
HOST = "https://usuarioaliado.contigo.gob.pe"
LIMA = dt.timezone(dt.timedelta(hours=-5))
UTC = dt.UTC
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

#: app1's logrotate runs (weekly, Sunday 06:25 Lima): file i holds hits before boundary i.
ROTATIONS = (
    ("access.log.3.gz", dt.datetime(2022, 3, 6, 6, 25, tzinfo=LIMA)),
    ("access.log.2.gz", dt.datetime(2022, 3, 13, 6, 25, tzinfo=LIMA)),
    ("access.log.1", dt.datetime(2022, 3, 20, 6, 25, tzinfo=LIMA)),
    ("access.log", dt.datetime(2022, 4, 2, 0, 0, tzinfo=LIMA)),
)
APP2_FILE = "app2-access.log"

# --- user agents ------------------------------------------------------------------------------

UA = {
    "win_chrome": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like "
    "Gecko) Chrome/99.0.4844.74 Safari/537.36",
    "win_chrome98": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like "
    "Gecko) Chrome/98.0.4758.102 Safari/537.36",
    "win7_chrome": "Mozilla/5.0 (Windows NT 6.1; Win64; x64) AppleWebKit/537.36 (KHTML, like "
    "Gecko) Chrome/99.0.4844.51 Safari/537.36",
    "win_firefox": "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:98.0) Gecko/20100101 Firefox/98.0",
    "win_edge": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like "
    "Gecko) Chrome/99.0.4844.74 Safari/537.36 Edg/99.0.1150.46",
    "android_samsung": "Mozilla/5.0 (Linux; Android 11; SM-A125M) AppleWebKit/537.36 (KHTML, "
    "like Gecko) Chrome/99.0.4844.73 Mobile Safari/537.36",
    "android_moto": "Mozilla/5.0 (Linux; Android 10; moto g(8) power lite) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/98.0.4758.101 Mobile Safari/537.36",
    "android_redmi": "Mozilla/5.0 (Linux; Android 11; Redmi Note 8) AppleWebKit/537.36 (KHTML, "
    "like Gecko) Chrome/99.0.4844.58 Mobile Safari/537.36",
    "iphone": "Mozilla/5.0 (iPhone; CPU iPhone OS 15_3_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/15.3 Mobile/15E148 Safari/604.1",
    "mac_chrome": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, "
    "like Gecko) Chrome/99.0.4844.83 Safari/537.36",
    # bots, monitors and scripted clients
    "googlebot": "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "bingbot": "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; bingbot/2.0; "
    "+http://www.bing.com/bingbot.htm) Chrome/99.0.4844.84 Safari/537.36",
    "uptimerobot": "Mozilla/5.0+(compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)",
    "zabbix": "Zabbix",
    "curl": "curl/7.81.0",
    "python_requests": "python-requests/2.27.1",
    "headless": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "HeadlessChrome/99.0.4844.51 Safari/537.36",
    "zgrab": "Mozilla/5.0 zgrab/0.x",
    "none": "-",
}
HUMAN_UAS = (
    "win_chrome", "win_chrome98", "win7_chrome", "win_firefox", "win_edge", "android_samsung",
    "android_moto", "android_redmi", "iphone", "mac_chrome",
)  # fmt: skip


@dataclass
class Hit:
    """One log line: a request, or (``raw``) a malformed line written verbatim."""

    ts: dt.datetime  # aware
    server: str  # "app1" | "app2"
    ip: str = "-"
    user: str = "-"
    method: str = "GET"
    uri: str = "/"
    status: int = 200
    size: int | None = 0
    referer: str = "-"
    ua: str = "-"
    protocol: str = "HTTP/1.1"
    raw: str | None = None
    request: str | None = None  # a request line given verbatim (e.g. TLS bytes)

    def line(self) -> str:
        if self.raw is not None:
            return self.raw
        local = self.ts.astimezone(LIMA if self.server == "app1" else UTC)
        offset = "-0500" if self.server == "app1" else "+0000"
        stamp = (
            f"{local.day:02d}/{MONTHS[local.month - 1]}/{local.year}:"
            f"{local.hour:02d}:{local.minute:02d}:{local.second:02d} {offset}"
        )
        request = (
            self.request
            if self.request is not None
            else (f"{self.method} {self.uri} {self.protocol}")
        )
        size = "-" if not self.size else str(self.size)
        return (
            f'{self.ip} - {self.user} [{stamp}] "{request}" {self.status} {size} '
            f'"{self.referer}" "{self.ua}"'
        )


# --- the allies table -------------------------------------------------------------------------

#: (usuario, tipo, ubigeo, entidad): one row per account. Codes checked against the INEI catalogue.
ALLIES: tuple[tuple[str, str, str, str], ...] = (
    ("grcusco01", "GR", "080000", "Gobierno Regional de Cusco"),
    ("  GRCusco02 ", "GR", "080000", "Gobierno Regional de Cusco"),
    ("grarequipa01", "GR", "040000", "Gobierno Regional de Arequipa"),
    ("grarequipa02", "GR", "040000", "Gobierno Regional de Arequipa"),
    ("grlalibertad01", "GR", "130000", "Gobierno Regional de La Libertad"),
    ("grpiura01", "GR", "200000", "Gobierno Regional de Piura"),
    ("gramazonas01", "GR", "010000", "Gobierno Regional de Amazonas"),
    ("grucayali01", "GR", "250000", "Gobierno Regional de Ucayali"),
    ("grlima01", "GR", "150000", "Gobierno Regional de Lima"),
    ("grcallao01", "GR", "070000", "Gobierno Regional del Callao"),
    ("grjunin01", "GR", "120000", "Gobierno Regional de Junín"),
    ("mml.omaped01", "GL", "150101", "Municipalidad Metropolitana de Lima - OMAPED"),
    ("mml.omaped02", "GL", "150101", "Municipalidad Metropolitana de Lima - OMAPED"),
    ("mml.omaped03", "GL", "150101", "Municipalidad Metropolitana de Lima - OMAPED"),
    ("mpcusco01", "GL", "080101", "Municipalidad Provincial del Cusco - OMAPED"),
    ("mparequipa01", "GL", "040101", "Municipalidad Provincial de Arequipa - OMAPED"),
    ("mptrujillo01", "GL", "130101", "Municipalidad Provincial de Trujillo - OMAPED"),
    ("mppiura01", "GL", "200101", "Municipalidad Provincial de Piura - OMAPED"),
    ("mpchachapoyas01", "GL", "010101", "Municipalidad Provincial de Chachapoyas - OMAPED"),
    ("mpcoronelportillo01", "GL", "250101",
     "Municipalidad Provincial de Coronel Portillo - OMAPED"),
    ("mpcallao01", "GL", "070101", "Municipalidad Provincial del Callao - OMAPED"),
    ("mdsjl01", "GL", "150132", "Municipalidad Distrital de San Juan de Lurigancho - OMAPED"),
    ("mdsjl02", "GL", "150132", "Municipalidad Distrital de San Juan de Lurigancho - OMAPED"),
    ("mdves01", "GL", "150142", "Municipalidad Distrital de Villa El Salvador - OMAPED"),
    ("mdwanchaq01", "GL", "080108", "Municipalidad Distrital de Wanchaq - OMAPED"),
    ("mdsansebastian01", "GL", "080105", "Municipalidad Distrital de San Sebastián - OMAPED"),
    ("mphuamanga01", "GL", "050101", "Municipalidad Provincial de Huamanga - OMAPED"),
    ("mphuancayo01", "GL", "120101", "Municipalidad Provincial de Huancayo - OMAPED"),
    ("mpchiclayo01", "GL", "140100", "Municipalidad Provincial de Chiclayo - OMAPED"),
    ("mdcerrocolorado01", "GL", "040104", "Municipalidad Distrital de Cerro Colorado - OMAPED"),
    ("mdmiraflores01", "GL", "150122", "Municipalidad Distrital de Miraflores - OMAPED"),
    ("hloayza01", "OA", "150101", "Hospital Nacional Arzobispo Loayza"),
    ("hloayza02", "OA", "150101", "Hospital Nacional Arzobispo Loayza"),
    ("hdosdemayo01", "OA", "150101", "Hospital Nacional Dos de Mayo"),
    ("hrcusco01", "OA", "080101", "Hospital Regional del Cusco"),
    ("guamanpoma01", "OA", "080101", "Centro Guamán Poma de Ayala"),
    ("hrdtrujillo01", "OA", "130101", "Hospital Regional Docente de Trujillo"),
    ("inr01", "OA", "150108", 'Instituto Nacional de Rehabilitación "Dra. Adriana Rebaza Flores"'),
    ("inr02", "OA", "150108", 'Instituto Nacional de Rehabilitación "Dra. Adriana Rebaza Flores"'),
    ("adpiura01", "OA", "200101", "Asociación de Personas con Discapacidad de Piura"),
    ("sbarequipa01", "OA", "040101", "Sociedad de Beneficencia de Arequipa"),
    ("hrlambayeque01", "OA", "140101", "Hospital Regional Lambayeque"),
    ("caritaspucallpa01", "OA", "250101", "Cáritas Pucallpa"),
    ("arenayesteras01", "OA", "150142", "Asociación Civil Arena y Esteras"),
)  # fmt: skip

#: Accounts whose traffic is scripted below (random traffic never uses them).
SCRIPTED_ACCOUNTS = frozenset(
    {"grcusco01", "grcusco02", "mpchachapoyas01", "hloayza01", "hloayza02", "adpiura01"}
)
#: Allies with no hit at all, ever.
NEVER_SEEN_ACCOUNTS = frozenset({"gramazonas01", "grjunin01", "mdsansebastian01", "mdmiraflores01"})

#: Background accounts: (account as logged, weight = sessions in the month, devices).
BACKGROUND_USERS: tuple[tuple[str, int, tuple[str, ...]], ...] = (
    ("mml.omaped01", 22, ("win_chrome", "android_samsung")),
    ("MML.OMAPED02", 8, ("win_edge",)),  # logged upper-case, the table has mml.omaped02
    ("mml.omaped03", 4, ("win_firefox",)),
    ("mpcusco01", 11, ("win_chrome98",)),
    ("mparequipa01", 12, ("win_chrome", "iphone")),
    ("mptrujillo01", 9, ("win7_chrome",)),
    ("mppiura01", 7, ("android_redmi",)),
    ("mpcoronelportillo01", 5, ("android_moto",)),
    ("mpcallao01", 8, ("win_firefox",)),
    ("mdsjl01", 9, ("win_chrome",)),
    ("MdSjl02", 4, ("android_samsung",)),
    ("mdves01", 7, ("win_edge",)),
    ("mdwanchaq01", 5, ("win_chrome98",)),
    ("mphuamanga01", 4, ("android_redmi",)),
    ("mphuancayo01", 7, ("win_chrome",)),
    ("mpchiclayo01", 5, ("mac_chrome",)),
    ("mdcerrocolorado01", 3, ("android_moto",)),
    ("grarequipa01", 8, ("win_chrome",)),
    ("grarequipa02", 4, ("win_firefox",)),
    ("grlalibertad01", 7, ("win_edge",)),
    ("grpiura01", 5, ("win7_chrome",)),
    ("grucayali01", 3, ("android_samsung",)),
    ("grlima01", 7, ("win_chrome",)),
    ("grcallao01", 4, ("win_chrome98",)),
    ("hdosdemayo01", 8, ("win_chrome",)),
    ("hrcusco01", 5, ("win_firefox",)),
    ("guamanpoma01", 3, ("iphone",)),
    ("hrdtrujillo01", 5, ("win_edge",)),
    ("inr01", 7, ("win_chrome",)),
    ("inr02", 3, ("mac_chrome",)),
    ("sbarequipa01", 4, ("win7_chrome",)),
    ("hrlambayeque01", 4, ("win_chrome",)),
    ("caritaspucallpa01", 3, ("android_redmi",)),
    ("arenayesteras01", 4, ("win_firefox", "android_moto")),
    ("mdchilca01", 5, ("win_chrome",)),  # NOT in the allies table: an unknown user
)  # fmt: skip

# --- scripted traffic (hand-derived cells in fixtures/README.md) ------------------------------
#
# One line per hit: server, Lima date and time, user ("-" = anonymous), method, target, status.
# Each block has one device (user agent) and IP. Nothing here is random except response sizes.

SCRIPTED: tuple[tuple[str, str, str, str], ...] = (
    # (block, user-agent key, ip, lines)
    ("S1 Gobierno Regional de Cusco: session a + b", "win_chrome", "190.42.117.23", """
app1 2022-03-03 09:12:04 -         GET  /login                                    200
app1 2022-03-03 09:12:04 -         GET  /static/css/login.3f9a1c.css              200
app1 2022-03-03 09:12:05 -         GET  /static/img/logo-contigo.png              200
app1 2022-03-03 09:12:05 -         GET  /favicon.ico                              200
app1 2022-03-03 09:12:30 GRCUSCO01 POST /login                                    401
app1 2022-03-03 09:12:51 GRCUSCO01 POST /login                                    302
app1 2022-03-03 09:12:52 GRCUSCO01 GET  /inicio                                   200
app1 2022-03-03 09:12:52 GRCUSCO01 GET  /static/css/app.8d2e4b.css                200
app1 2022-03-03 09:12:52 GRCUSCO01 GET  /static/js/vendor.1a2b3c.js               200
app1 2022-03-03 09:12:53 GRCUSCO01 GET  /static/js/app.5e6f7a.js                  200
app1 2022-03-03 09:14:10 GRCUSCO01 GET  /beneficiarios                            200
app1 2022-03-03 09:15:02 GRCUSCO01 GET  /beneficiarios?page=2                     200
app1 2022-03-03 09:16:40 GRCUSCO01 GET  /beneficiarios/10482                      200
app1 2022-03-03 09:18:05 GRCUSCO01 GET  /api/reportes/vigentes                    200
app1 2022-03-03 09:18:40 GRCUSCO01 GET  /api/reportes/suspendidos                 200
app1 2022-03-03 09:19:30 GRCUSCO01 GET  /beneficiarios/10482                      304
app1 2022-03-03 09:35:00 GRCUSCO01 GET  /static/fonts/roboto-v29-latin-500.woff2  200
app1 2022-03-03 09:49:29 GRCUSCO01 GET  /reportes                                 200
app1 2022-03-03 09:50:10 GRCUSCO01 GET  /descargas/padron-080000-2022-02.xlsx     200
app1 2022-03-03 09:51:00 GRCUSCO01 GET  /reportes?anio=2022&mes=02                200
app1 2022-03-03 09:52:30 GRCUSCO01 GET  /inicio                                   200
app1 2022-03-03 10:05:12 GRCUSCO01 GET  /static/img/banner-contigo.png            200
app1 2022-03-03 10:10:40 GRCUSCO01 GET  /beneficiarios/exportar.php               404
app1 2022-03-03 10:22:31 GRCUSCO01 GET  /perfil                                   200
"""),
    ("S1 Gobierno Regional de Cusco: session c", "android_samsung", "179.6.203.88", """
app1 2022-03-10 15:03:10 grcusco02 POST /login                                    303
app1 2022-03-10 15:03:11 grcusco02 GET  /inicio                                   200
app1 2022-03-10 15:05:00 grcusco02 GET  /solicitudes/nueva                        200
app1 2022-03-10 15:09:45 grcusco02 POST /solicitudes                              201
app1 2022-03-10 15:09:46 grcusco02 GET  /solicitudes/nueva?enviado=1             200
app1 2022-03-10 15:11:00 grcusco02 POST /solicitudes                              400
app1 2022-03-10 15:12:30 grcusco02 POST /solicitudes                              302
app1 2022-03-10 15:12:31 grcusco02 GET  /solicitudes                              200
app1 2022-03-10 15:42:31 grcusco02 GET  /beneficiarios                            200
app1 2022-03-10 15:44:00 grcusco02 GET  /beneficiarios/20931                      200
app1 2022-03-10 15:46:10 grcusco02 GET  /api/reportes/desafiliados                200
app1 2022-03-10 15:46:20 grcusco02 GET  /api/reportes/menores-sin-autorizacion    200
app1 2022-03-10 15:47:00 grcusco02 GET  /api/reportes/vigentes                    500
app1 2022-03-10 15:48:30 grcusco02 GET  /inicio                                   200
"""),
    ("S1 Gobierno Regional de Cusco: session d (server app2, UTC)", "win_edge", "190.42.117.23",
     """
app2 2022-03-24 11:00:00 GRCUSCO01 POST /login                                    302
app2 2022-03-24 11:00:01 GRCUSCO01 GET  /inicio                                   200
app2 2022-03-24 11:02:15 GRCUSCO01 GET  /reportes                                 200
app2 2022-03-24 11:03:00 GRCUSCO01 GET  /api/reportes/vigentes                    200
app2 2022-03-24 11:03:30 GRCUSCO01 GET  /api/reportes/vigentes                    200
app2 2022-03-24 11:04:00 GRCUSCO01 GET  /descargas/reporte-vigentes-080000.pdf    200
app2 2022-03-24 11:04:05 GRCUSCO01 GET  /descargas/reporte-vigentes-080000.pdf    206
app2 2022-03-24 11:06:40 GRCUSCO01 GET  /reportes?tipo=suspendidos                200
app2 2022-03-24 11:07:00 GRCUSCO01 GET  /api/reportes/suspendidos                 200
app2 2022-03-24 11:10:20 GRCUSCO01 GET  /beneficiarios                            200
app2 2022-03-24 11:12:00 GRCUSCO01 GET  /beneficiarios?q=quispe                   200
app2 2022-03-24 11:15:45 GRCUSCO01 GET  /beneficiarios/30117                      200
app2 2022-03-24 11:20:00 GRCUSCO01 GET  /perfil                                   200
app2 2022-03-24 11:21:10 GRCUSCO01 GET  /perfil                                   304
app2 2022-03-24 11:22:00 GRCUSCO01 HEAD /inicio                                   200
app2 2022-03-24 11:25:00 GRCUSCO01 GET  /inicio                                   200
"""),
    ("S1 Gobierno Regional de Cusco: session e", "win_firefox", "200.48.225.140", """
app1 2022-03-28 08:29:40 -         GET  /login                                    200
app1 2022-03-28 08:30:00 grcusco02 POST /login                                    302
app1 2022-03-28 08:30:01 grcusco02 GET  /inicio                                   200
app1 2022-03-28 08:31:10 grcusco02 GET  /beneficiarios                            200
app1 2022-03-28 08:33:20 grcusco02 GET  /beneficiarios?page=3                     200
app1 2022-03-28 08:35:00 grcusco02 GET  /beneficiarios/41236                      200
app1 2022-03-28 08:36:30 grcusco02 GET  /solicitudes/nueva                        200
app1 2022-03-28 08:40:00 grcusco02 POST /solicitudes                              303
app1 2022-03-28 08:40:01 grcusco02 GET  /solicitudes                              200
app1 2022-03-28 08:41:00 grcusco02 GET  /inicio                                   200
app1 2022-03-28 08:41:30 grcusco02 GET  /logout                                   302
app1 2022-03-28 08:41:31 -         GET  /login                                    200
"""),
    ("S1 Gobierno Regional de Cusco: session f", "win_chrome", "190.42.117.23", """
app1 2022-03-30 17:20:00 GRCUSCO01 GET  /descargas/manual-usuario-aliado.pdf      200
app1 2022-03-31 09:14:02 GRCUSCO01 POST /login                                    401
"""),
    # A reporting script that reuses grcusco01's credentials: a bot, never counted.
    ("S1 bot with grcusco01's name (python-requests)", "python_requests", "10.20.4.17", """
app1 2022-03-07 07:00:03 grcusco01 GET  /api/reportes/vigentes                    200
app1 2022-03-14 07:00:02 grcusco01 GET  /api/reportes/vigentes                    200
app1 2022-03-14 07:00:03 grcusco01 GET  /api/reportes/suspendidos                 200
app1 2022-03-21 07:00:04 grcusco01 GET  /api/reportes/vigentes                    200
app1 2022-03-21 07:00:05 grcusco01 GET  /inicio                                   200
app1 2022-03-28 07:00:02 grcusco01 GET  /api/reportes/vigentes                    200
app1 2022-03-31 23:30:00 grcusco01 GET  /descargas/padron-080000-2022-03.xlsx     200
"""),
    ("S2 Municipalidad Provincial de Chachapoyas: February only", "android_redmi",
     "38.25.140.9", """
app1 2022-02-28 21:39:50 -               GET  /login                              200
app1 2022-02-28 21:40:00 mpchachapoyas01 POST /login                              302
app1 2022-02-28 21:40:01 mpchachapoyas01 GET  /inicio                             200
app1 2022-02-28 21:43:00 mpchachapoyas01 GET  /beneficiarios                      200
app2 2022-02-28 22:00:12 mpchachapoyas01 GET  /reportes                           200
app2 2022-02-28 22:02:40 mpchachapoyas01 GET  /api/reportes/vigentes              200
app2 2022-02-28 22:05:05 mpchachapoyas01 GET  /inicio                             200
app1 2022-03-14 10:02:00 -               GET  /login                              200
app1 2022-03-14 10:02:31 mpchachapoyas01 POST /login                              401
app1 2022-03-14 10:03:05 mpchachapoyas01 POST /login                              401
app1 2022-03-14 10:03:06 -               GET  /static/img/logo-contigo.png        304
"""),
    ("S3 Hospital Nacional Arzobispo Loayza: sessions A + B (midnight)", "win7_chrome",
     "181.65.32.201", """
app1 2022-03-15 23:39:40 -         GET  /login                                    200
app1 2022-03-15 23:40:00 hloayza01 POST /login                                    302
app1 2022-03-15 23:40:02 hloayza01 GET  /inicio                                   200
app1 2022-03-15 23:40:02 hloayza01 GET  /static/css/app.8d2e4b.css                304
app1 2022-03-15 23:44:30 hloayza01 GET  /beneficiarios                            200
app1 2022-03-15 23:47:00 hloayza01 GET  /beneficiarios?page=2                     200
app1 2022-03-15 23:52:10 hloayza01 GET  /api/reportes/vigentes                    200
app1 2022-03-15 23:58:00 hloayza01 GET  /beneficiarios/4821                       200
app1 2022-03-16 00:03:20 hloayza01 GET  /reportes                                 200
app1 2022-03-16 00:05:00 hloayza01 GET  /descargas/beneficiarios-150101.xlsx      200
app1 2022-03-16 00:07:10 hloayza01 GET  /beneficiarios                            200
app1 2022-03-16 00:09:40 hloayza01 GET  /inicio                                   200
"""),
    ("S3 Hospital Nacional Arzobispo Loayza: session D (server app2, UTC)", "win7_chrome",
     "181.65.32.201", """
app2 2022-03-22 10:15:00 hloayza01 GET  /inicio                                   200
app2 2022-03-22 10:15:01 hloayza01 GET  /static/js/app.5e6f7a.js                  304
"""),
    ("S3 Hospital Nacional Arzobispo Loayza: session C (midnight, month end)", "win7_chrome",
     "181.65.32.201", """
app1 2022-03-31 23:49:30 -         GET  /login                                    200
app1 2022-03-31 23:50:00 hloayza01 POST /login                                    303
app1 2022-03-31 23:50:01 hloayza01 GET  /inicio                                   200
app1 2022-03-31 23:55:22 hloayza01 GET  /solicitudes/nueva                        200
app1 2022-03-31 23:59:10 hloayza01 POST /solicitudes                              302
app1 2022-04-01 00:00:30 hloayza01 GET  /solicitudes                              200
app1 2022-04-01 00:04:00 hloayza01 GET  /inicio                                   200
"""),
    ("S4 Asociación de Personas con Discapacidad de Piura: April only", "android_moto",
     "179.7.88.41", """
app2 2022-04-01 00:30:00 -         GET  /login                                    200
app2 2022-04-01 00:30:40 adpiura01 POST /login                                    302
app2 2022-04-01 00:30:41 adpiura01 GET  /inicio                                   200
app2 2022-04-01 00:33:00 adpiura01 GET  /beneficiarios                            200
"""),
)  # fmt: skip

# --- malformed and odd lines ------------------------------------------------------------------

#: (server, Lima time used only to place the line, text). The first six do not match the
#: combined format; the TLS/HTTP2 lines do (nginx logs them as 400 with an empty user agent).
MALFORMED: tuple[tuple[str, str, str], ...] = (
    ("app1", "2022-03-02 03:14:07", "GET /inicio HTTP/1.1 garbage ?? \\x00\\x00 ~~~ ###"),
    ("app1", "2022-03-08 11:21:19",
     '190.233.10.7 - mparequipa01 [08/Mar/2022:11:21:19 -0500] "GET /benefici'),
    ("app1", "2022-03-17 16:40:00",
     '181.65.200.3 - - [17/Mar/2022:16:40:00] "GET /login HTTP/1.1" 200 4120 "-" "'
     + UA["win_chrome"] + '"'),
    ("app1", "2022-03-26 12:00:30",
     '200.37.150.66 - mdves01 [26/Mar/2022:12:00:30 -0500] "GET /reportes HTTP/1.1" 200 9'),
    ("app2", "2022-03-11 09:30:00",
     '38.25.18.200 - - [11/Mar/2022:14:30:00 +0000] "GET /inicio HTTP/1.1" abc - "-" "'
     + UA["android_samsung"] + '"'),
    ("app2", "2022-03-19 04:10:02",
     "2022/03/19 09:10:02 [error] 1287#1287: *482113 upstream timed out (110: Connection timed "
     'out) while reading response header from upstream, client: 190.12.1.1, server: '
     'usuarioaliado.contigo.gob.pe, request: "GET /reportes HTTP/1.1"'),
)  # fmt: skip

TLS_REQUESTS = (
    (
        "app1",
        "2022-03-04 02:47:13",
        "45.155.205.233",
        "\\x16\\x03\\x01\\x00\\xEE\\x01\\x00\\x00\\xEA\\x03\\x03\\x9C\\xD4\\x11\\x8Fm\\xB7",
    ),
    (
        "app1",
        "2022-03-18 04:02:51",
        "193.118.53.210",
        "\\x16\\x03\\x01\\x02\\x00\\x01\\x00\\x01\\xFC\\x03\\x03\\x1B\\x9E\\xF0\\xC2Y",
    ),
    ("app2", "2022-03-23 03:33:33", "162.142.125.9", "PRI * HTTP/2.0"),
)

# --- pages and sizes --------------------------------------------------------------------------

SIZES = {
    "/login": 4120, "/inicio": 18344, "/beneficiarios": 35210, "/reportes": 15400,
    "/solicitudes": 12870, "/solicitudes/nueva": 9650, "/perfil": 7420, "/ayuda": 11230,
    "/preguntas-frecuentes": 14980, "/health": 15,
}  # fmt: skip
LOGIN_ASSETS = (
    "/static/css/login.3f9a1c.css", "/static/img/logo-contigo.png", "/favicon.ico",
)  # fmt: skip
APP_ASSETS = (
    "/static/css/app.8d2e4b.css", "/static/js/vendor.1a2b3c.js", "/static/js/app.5e6f7a.js",
    "/static/fonts/roboto-v29-latin-regular.woff2",
)  # fmt: skip
ASSET_SIZES = {
    "/favicon.ico": 15086, "/static/css/login.3f9a1c.css": 8214,
    "/static/img/logo-contigo.png": 24873, "/static/css/app.8d2e4b.css": 48120,
    "/static/js/vendor.1a2b3c.js": 312904, "/static/js/app.5e6f7a.js": 96233,
    "/static/fonts/roboto-v29-latin-regular.woff2": 15744,
    "/static/fonts/roboto-v29-latin-500.woff2": 15920, "/static/img/banner-contigo.png": 118467,
}  # fmt: skip
API_REPORTS = ("vigentes", "suspendidos", "desafiliados", "menores-sin-autorizacion")


def _size(rng: random.Random, method: str, path: str, status: int) -> int:
    if status in (301, 302, 303):
        return 0 if method == "POST" else 154
    if status in (304, 204):
        return 0
    if status == 401:
        return 4388
    if status == 404:
        return 548
    if status >= 500:
        return 578
    if path.startswith("/api/"):
        return rng.randint(60, 140)
    if path.startswith("/descargas/"):
        return rng.randint(40_000, 900_000)
    if path in ASSET_SIZES:
        return ASSET_SIZES[path]
    base = SIZES.get(path, 20_000)
    return base + rng.randint(0, 900)


NOT_PAGES = ("/static/", "/favicon", "/api/", "/descargas/")


def _lima(text: str) -> dt.datetime:
    return dt.datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=LIMA)


def scripted_hits(rng: random.Random) -> list[Hit]:
    """The hand-derived allies' traffic, exactly as the SCRIPTED blocks list it."""
    hits: list[Hit] = []
    for _title, ua_key, ip, block in SCRIPTED:
        last_page = "-"
        for row in block.strip().splitlines():
            server, day, clock, user, method, uri, status = row.split()
            path = uri.split("?", 1)[0]
            code = int(status)
            hits.append(
                Hit(
                    ts=_lima(f"{day} {clock}"),
                    server=server,
                    ip=ip,
                    user=user,
                    method=method,
                    uri=uri,
                    status=code,
                    size=_size(rng, method, path, code),
                    referer=last_page,
                    ua=UA[ua_key],
                )
            )
            if method == "GET" and code == 200 and not path.startswith(NOT_PAGES):
                last_page = HOST + uri
    return hits


# --- background traffic -----------------------------------------------------------------------


def _ip(rng: random.Random) -> str:
    prefix = rng.choice(("190.232", "190.42", "181.65", "200.48", "179.6", "38.25", "200.37"))
    return f"{prefix}.{rng.randint(1, 254)}.{rng.randint(1, 254)}"


def _session_start(rng: random.Random) -> dt.datetime:
    """A start time in March 2022 (Lima), mostly office hours on working days."""
    while True:
        day = rng.randint(1, 31)
        weekday = dt.date(2022, 3, day).weekday()
        if weekday >= 5 and rng.random() < 0.8:
            continue
        hour = rng.randint(8, 17) if rng.random() < 0.88 else rng.choice((7, 18, 19, 20, 21))
        return dt.datetime(2022, 3, day, hour, rng.randint(0, 59), rng.randint(0, 59), tzinfo=LIMA)


class Clock:
    """Advances a session's time by human think times."""

    def __init__(self, rng: random.Random, start: dt.datetime) -> None:
        self.rng = rng
        self.now = start

    def step(self, lo: float = 4, hi: float = 240) -> dt.datetime:
        self.now += dt.timedelta(seconds=int(self.rng.uniform(lo, hi)))
        return self.now

    def tick(self) -> dt.datetime:
        self.now += dt.timedelta(seconds=self.rng.choice((0, 0, 1)))
        return self.now


def _page_uri(rng: random.Random) -> str:
    r = rng.random()
    if r < 0.25:
        return "/inicio"
    if r < 0.42:
        return "/beneficiarios"
    if r < 0.50:
        return f"/beneficiarios?page={rng.randint(2, 9)}"
    if r < 0.55:
        name = rng.choice(("quispe", "mamani", "huaman", "flores", "condori", "garcia"))
        return f"/beneficiarios?q={name}"
    if r < 0.72:
        return f"/beneficiarios/{rng.randint(1000, 49999)}"
    if r < 0.82:
        return (
            "/reportes" if rng.random() < 0.6 else f"/reportes?anio=2022&mes=0{rng.randint(1, 3)}"
        )
    if r < 0.88:
        return "/solicitudes"
    if r < 0.94:
        return "/perfil"
    return "/ayuda"


def background_session(
    rng: random.Random,
    user: str,
    tipo: str,
    ua_key: str,
    ip: str,
    start: dt.datetime,
    server: str,
) -> list[Hit]:
    """One ordinary working session: login page, (failed) login, pages, events, maybe logout."""
    ua = UA[ua_key]
    clock = Clock(rng, start)
    hits: list[Hit] = []
    referer = "-"

    def add(who: str, method: str, uri: str, status: int, *, ref: str | None = None) -> None:
        path = uri.split("?", 1)[0]
        hits.append(
            Hit(
                ts=clock.now,
                server=server,
                ip=ip,
                user=who,
                method=method,
                uri=uri,
                status=status,
                size=_size(rng, method, path, status),
                referer=referer if ref is None else ref,
                ua=ua,
            )
        )

    def assets(who: str, paths: tuple[str, ...], page: str) -> None:
        cached = rng.random() < 0.5
        for a in paths:
            if cached and rng.random() < 0.6:
                continue
            clock.tick()
            add(who, "GET", a, 304 if cached else 200, ref=HOST + page)

    add("-", "GET", "/login", 200)
    assets("-", LOGIN_ASSETS, "/login")
    referer = HOST + "/login"
    clock.step(8, 40)
    if rng.random() < 0.12:
        add(user, "POST", "/login", rng.choice((200, 401)))
        clock.step(8, 30)
    add(user, "POST", "/login", rng.choice((302, 302, 303)))
    clock.tick()
    add(user, "GET", "/inicio", 200)
    assets(user, APP_ASSETS, "/inicio")
    referer = HOST + "/inicio"
    for _ in range(rng.randint(0, 11)):
        gap = rng.random()
        if gap < 0.04:
            clock.step(31 * 60, 45 * 60)  # comes back after a break: a new session
        elif gap < 0.08:
            clock.step(20 * 60, 29 * 60)
        else:
            clock.step()
        r = rng.random()
        if r < 0.66:
            uri = _page_uri(rng)
            status = 304 if rng.random() < 0.05 else 200
            if uri.startswith("/beneficiarios/") and rng.random() < 0.06:
                status = 404
            add(user, "GET", uri, status)
            if status == 200:
                referer = HOST + uri
        elif r < 0.84:
            buttons = API_REPORTS if tipo in ("GR", "GL") else API_REPORTS[:3]
            add(user, "GET", "/api/reportes/" + rng.choice(buttons), 200)
        elif r < 0.92:
            name = rng.choice(("padron", "beneficiarios", "reporte-vigentes", "suspendidos"))
            add(user, "GET", f"/descargas/{name}-2022-0{rng.randint(2, 3)}.xlsx", 200)
        else:
            add(user, "GET", "/solicitudes/nueva", 200)
            referer = HOST + "/solicitudes/nueva"
            clock.step(60, 400)
            add(user, "POST", "/solicitudes", rng.choice((201, 302, 303, 303, 422)))
            clock.tick()
            add(user, "GET", "/solicitudes", 200)
            referer = HOST + "/solicitudes"
    if rng.random() < 0.4:
        clock.step(3, 60)
        add(user, "GET", "/logout", 302)
        clock.tick()
        add("-", "GET", "/login", 200)
    return hits


def background_traffic(rng: random.Random) -> list[Hit]:
    tipos = {u.strip().lower(): t for u, t, _, _ in ALLIES}
    hits: list[Hit] = []
    for user, sessions, devices in BACKGROUND_USERS:
        assert user.lower() not in SCRIPTED_ACCOUNTS
        tipo = tipos.get(user.lower(), "GL")
        home_ip = _ip(rng)
        for _ in range(sessions):
            ua_key = rng.choice(devices)
            mobile = ua_key.startswith(("android", "iphone"))
            ip = _ip(rng) if mobile else home_ip
            server = "app2" if rng.random() < 0.2 else "app1"
            hits += background_session(rng, user, tipo, ua_key, ip, _session_start(rng), server)
    # Two background sessions that run past local midnight.
    hits += background_session(
        rng,
        "mml.omaped01",
        "GL",
        "win_chrome",
        "190.232.45.12",
        _lima("2022-03-08 23:56:10"),
        "app1",
    )
    hits += background_session(
        rng, "mdsjl01", "GL", "android_samsung", "179.6.14.77", _lima("2022-03-22 23:52:00"), "app2"
    )
    # A user still working at month end (Lima), logged by the UTC server on April 1st.
    hits += background_session(
        rng,
        "mparequipa01",
        "GL",
        "win_chrome",
        "190.233.10.7",
        _lima("2022-03-31 21:00:00"),
        "app2",
    )
    return hits


def anonymous_traffic(rng: random.Random) -> list[Hit]:
    """Visitors who never log in: the login page, help pages, a redirect from /."""
    hits: list[Hit] = []
    for _ in range(110):
        ua_key = rng.choice(HUMAN_UAS)
        ip = _ip(rng)
        clock = Clock(rng, _session_start(rng))
        server = "app2" if rng.random() < 0.2 else "app1"
        ref = rng.choice(("-", "https://www.google.com/", "https://www.gob.pe/contigo"))
        seq = [("/", 302)]
        seq.append(("/login", 200))
        if rng.random() < 0.5:
            seq.append((rng.choice(("/ayuda", "/preguntas-frecuentes")), 200))
        if rng.random() < 0.25:
            seq.append(("/login", 200))
        for uri, status in seq:
            hits.append(
                Hit(
                    ts=clock.now,
                    server=server,
                    ip=ip,
                    method="GET",
                    uri=uri,
                    status=status,
                    size=_size(rng, "GET", uri, status),
                    referer=ref,
                    ua=UA[ua_key],
                )
            )
            if status == 200 and rng.random() < 0.5:
                for a in LOGIN_ASSETS:
                    clock.tick()
                    hits.append(
                        Hit(
                            ts=clock.now,
                            server=server,
                            ip=ip,
                            uri=a,
                            status=200,
                            size=_size(rng, "GET", a, 200),
                            referer=HOST + uri,
                            ua=UA[ua_key],
                        )
                    )
            ref = HOST + uri
            clock.step(3, 120)
    return hits


def bot_traffic(rng: random.Random) -> list[Hit]:
    """Crawlers, monitors, scanners, a headless browser with a real user's name."""
    hits: list[Hit] = []
    # UptimeRobot on app1 every two hours, Zabbix on app2 every six, Feb 28 20:00 to Apr 1.
    t = _lima("2022-02-28 20:00:00")
    end = _lima("2022-04-01 01:00:00")
    while t < end:
        hits.append(
            Hit(
                ts=t + dt.timedelta(seconds=rng.randint(0, 3)),
                server="app1",
                ip="216.144.250.150",
                method="HEAD",
                uri="/login",
                status=200,
                size=0,
                ua=UA["uptimerobot"],
            )
        )
        if t.hour % 6 == 0:
            hits.append(
                Hit(
                    ts=t + dt.timedelta(seconds=17),
                    server="app2",
                    ip="10.20.4.5",
                    uri="/health",
                    status=200,
                    size=15,
                    ua=UA["zabbix"],
                )
            )
        t += dt.timedelta(hours=2)
    # Search engines.
    for day in range(1, 32):
        for ua_key, ip, n in (("googlebot", "66.249.66.", 3), ("bingbot", "157.55.39.", 1)):
            for _ in range(n if rng.random() < 0.8 else 0):
                ts = dt.datetime(
                    2022,
                    3,
                    day,
                    rng.randint(0, 23),
                    rng.randint(0, 59),
                    rng.randint(0, 59),
                    tzinfo=LIMA,
                )
                uri, status = rng.choice(
                    (
                        ("/robots.txt", 404),
                        ("/", 302),
                        ("/login", 200),
                        ("/ayuda", 200),
                        ("/preguntas-frecuentes", 200),
                    )
                )
                hits.append(
                    Hit(
                        ts=ts,
                        server="app1",
                        ip=ip + str(rng.randint(1, 250)),
                        uri=uri,
                        status=status,
                        size=_size(rng, "GET", uri, status),
                        ua=UA[ua_key],
                    )
                )
    # Vulnerability scanners: empty user agent or zgrab, everything 404.
    for _ in range(40):
        ts = dt.datetime(
            2022,
            3,
            rng.randint(1, 31),
            rng.randint(0, 23),
            rng.randint(0, 59),
            rng.randint(0, 59),
            tzinfo=LIMA,
        )
        uri = rng.choice(
            (
                "/.env",
                "/wp-login.php",
                "/phpmyadmin/",
                "/.git/config",
                "/admin/config.php",
                "/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php",
                "/cgi-bin/luci",
                "/actuator/health",
            )
        )
        hits.append(
            Hit(
                ts=ts,
                server=rng.choice(("app1", "app2")),
                ip=_ip(rng),
                uri=uri,
                status=404,
                size=548,
                ua=UA[rng.choice(("none", "zgrab"))],
            )
        )
    # The sysadmin's curl checks.
    for day in (2, 9, 16, 23, 30):
        ts = dt.datetime(2022, 3, day, 8, 5, 0, tzinfo=LIMA)
        hits.append(
            Hit(
                ts=ts,
                server="app1",
                ip="10.20.4.2",
                method="HEAD",
                uri="/",
                status=302,
                ua=UA["curl"],
            )
        )
        hits.append(
            Hit(
                ts=ts + dt.timedelta(seconds=1),
                server="app1",
                ip="10.20.4.2",
                uri="/inicio",
                status=200,
                size=18344,
                ua=UA["curl"],
            )
        )
    # A robotic process (headless Chrome) logged in as a real user every Monday morning.
    for day in (7, 14, 21, 28):
        t0 = dt.datetime(2022, 3, day, 6, 30, 0, tzinfo=LIMA)
        for k, (method, uri, status) in enumerate(
            (
                ("POST", "/login", 302),
                ("GET", "/inicio", 200),
                ("GET", "/reportes", 200),
                ("GET", "/api/reportes/vigentes", 200),
                ("GET", "/api/reportes/suspendidos", 200),
                ("GET", "/descargas/padron-150101-2022-03.xlsx", 200),
            )
        ):
            hits.append(
                Hit(
                    ts=t0 + dt.timedelta(seconds=3 * k),
                    server="app1",
                    ip="10.20.4.30",
                    user="mml.omaped01",
                    method=method,
                    uri=uri,
                    status=status,
                    size=_size(rng, method, uri, status),
                    ua=UA["headless"],
                )
            )
    return hits


def odd_lines() -> list[Hit]:
    hits = [Hit(ts=_lima(when), server=server, raw=text) for server, when, text in MALFORMED]
    for server, when, ip, request in TLS_REQUESTS:
        hits.append(
            Hit(ts=_lima(when), server=server, ip=ip, request=request, status=400, size=157, ua="-")
        )
    # A few page views around February's end and April's start from background visitors.
    hits.append(
        Hit(
            ts=_lima("2022-02-28 23:12:40"),
            server="app1",
            ip="190.232.45.12",
            user="mml.omaped01",
            uri="/inicio",
            status=200,
            size=18544,
            ua=UA["win_chrome"],
        )
    )
    hits.append(
        Hit(
            ts=_lima("2022-04-01 00:20:05"),
            server="app1",
            ip="190.232.45.12",
            user="mml.omaped01",
            uri="/reportes",
            status=200,
            size=15544,
            ua=UA["win_chrome"],
        )
    )
    return hits


# --- writing ----------------------------------------------------------------------------------


def all_hits() -> list[Hit]:
    rng = random.Random(SEED)
    hits = scripted_hits(rng)
    hits += background_traffic(rng)
    hits += anonymous_traffic(rng)
    hits += bot_traffic(rng)
    hits += odd_lines()
    return hits


def log_files() -> dict[str, bytes]:
    """File name -> decompressed content, lines in time order (stable for equal times)."""
    hits = all_hits()
    order = sorted(range(len(hits)), key=lambda i: (hits[i].ts, i))
    files: dict[str, list[str]] = {name: [] for name, _ in ROTATIONS}
    files[APP2_FILE] = []
    for i in order:
        h = hits[i]
        if h.server == "app2":
            files[APP2_FILE].append(h.line())
            continue
        for name, boundary in ROTATIONS:
            if h.ts < boundary:
                files[name].append(h.line())
                break
        else:  # pragma: no cover - the last boundary is past every hit
            raise AssertionError(h)
    return {name: ("\n".join(lines) + "\n").encode("utf-8") for name, lines in files.items()}


def gzip_bytes(data: bytes) -> bytes:
    """gzip with no file name and mtime 0, so the bytes depend only on the content."""
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, compresslevel=9, mtime=0) as gz:
        gz.write(data)
    return buf.getvalue()


def allies_csv() -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(("usuario", "tipo", "ubigeo", "entidad"))
    writer.writerows(ALLIES)
    return buf.getvalue().encode("utf-8")


def write_fixtures(out: Path) -> list[Path]:
    """Write aliados.csv and logs/* under ``out``; return the paths written."""
    logs = out / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    written = []
    target = out / "aliados.csv"
    target.write_bytes(allies_csv())
    written.append(target)
    for name, data in log_files().items():
        target = logs / name
        target.write_bytes(gzip_bytes(data) if name.endswith(".gz") else data)
        written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    default = Path(__file__).resolve().parent.parent / "fixtures"
    parser.add_argument("--out", type=Path, default=default, help=f"default: {default}")
    args = parser.parse_args(argv)
    for path in write_fixtures(args.out):
        print(f"{path}  {path.stat().st_size:>8} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
