"""Typed configuration: the URL rules, the user field, sessions and matrices, from TOML.

Defaults describe the USUARIO ALIADO application as SPEC.md's URL map gives it. A TOML file
overrides any part; unknown keys are errors (a typo must not silently fall back to a default).
Interpretation happens at report time, so changing these rules never needs a re-ingest; the
one setting read at ingest is ``[privacy] anonymize_ip`` (raw addresses must never be stored).
"""

from __future__ import annotations

import email.policy
import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import ConfigError, PageGroupError
from .page_groups import PageGroups

STATIC_PREFIXES = ("/static/", "/favicon.ico")
STATIC_EXTENSIONS = (
    ".css", ".js", ".png", ".jpg", ".jpeg", ".gif", ".svg", ".ico",
    ".woff", ".woff2", ".ttf", ".map",
)  # fmt: skip


@dataclass(frozen=True)
class EventRule:
    """A request that counts as an event: method, one path matcher, and accepted statuses."""

    name: str
    label: str
    method: str
    statuses: tuple[int, ...]
    path: str | None = None
    path_prefix: str | None = None
    path_regex: str | None = None

    def path_pattern(self) -> str:
        """The rule's path matcher as one anchored regex (matched against the path, no query)."""
        if self.path is not None:
            return "^" + re.escape(self.path) + "$"
        if self.path_prefix is not None:
            return "^" + re.escape(self.path_prefix)
        assert self.path_regex is not None
        return self.path_regex


DEFAULT_EVENTS: tuple[EventRule, ...] = (
    EventRule("ingresos", "Número de ingresos a la aplicación", "POST", (302, 303), path="/login"),
    EventRule("descargas", "Número de descargas realizadas", "GET", (200,), path_prefix="/descargas/"),
    EventRule(
        "vigentes", "Número de usos del botón total de usuarios vigentes", "GET", (200,),
        path="/api/reportes/vigentes",
    ),
    EventRule(
        "suspendidos", "Número de usos del botón total de suspendidos", "GET", (200,),
        path="/api/reportes/suspendidos",
    ),
    EventRule(
        "desafiliados", "Número de usos del botón total de desafiliados", "GET", (200,),
        path="/api/reportes/desafiliados",
    ),
    EventRule(
        "menores_sin_autorizacion", "Número de usos del botón menores sin autorización", "GET",
        (200,), path="/api/reportes/menores-sin-autorizacion",
    ),
    EventRule(
        "solicitudes", "Total de solicitudes remitidas", "POST", (201, 302, 303),
        path="/solicitudes",
    ),
)  # fmt: skip

#: Column key -> Spanish header, for the columns that are not events.
BUILTIN_COLUMNS: dict[str, str] = {
    "ubigeo": "Ubigeo",
    "region": "Región",
    "provincia": "Provincia",
    "distrito": "Distrito",
    "entidad": "Entidad",
    "tipo": "Tipo",
    "ultima_conexion": "Fecha y hora de última conexión",
    "tiempo_promedio": "Promedio de tiempo en la página",
    "vistas": "Vistas de página",
    "vistas_unicas": "Número de vistas de página únicas",
    "rebote": "Porcentaje de rebote",
    "salidas": "Porcentaje de salidas",
    "sesiones": "Sesiones",
}

_TAIL = ("ultima_conexion", "tiempo_promedio", "vistas", "vistas_unicas", "rebote", "salidas")
_HEAD = ("ubigeo", "region", "provincia", "distrito", "entidad")
#: Matrix 1 mixes regional and local governments: its Tipo column (GR/GL) lets readers filter.
_HEAD_TIPO = _HEAD + ("tipo",)


@dataclass(frozen=True)
class MatrixSpec:
    """One output matrix: which ally types it holds and which columns, in order."""

    key: str
    title: str
    file_stem: str
    tipos: tuple[str, ...]
    columns: tuple[str, ...]


DEFAULT_MATRICES: tuple[MatrixSpec, ...] = (
    MatrixSpec(
        "gobiernos", "Gobiernos Regionales y Locales", "matriz-gobiernos", ("GR", "GL"),
        _HEAD_TIPO + ("ingresos", "descargas", "vigentes", "suspendidos", "desafiliados",
                 "menores_sin_autorizacion", "solicitudes") + _TAIL,
    ),
    MatrixSpec(
        "otros_aliados", "Otros Aliados", "matriz-otros-aliados", ("OA",),
        _HEAD + ("ingresos", "descargas", "vigentes", "suspendidos", "desafiliados",
                 "solicitudes") + _TAIL,
    ),
)  # fmt: skip

MAIL_SECURITY = {"starttls": 587, "ssl": 465, "none": 25}  # mode -> its usual port

#: The only place the SMTP password is read from: never the TOML, never the command line.
PASSWORD_ENV = "LOGMETRICS_SMTP_PASSWORD"


@dataclass(frozen=True)
class MailSettings:
    """The ``[mail]`` table: how to reach the SMTP relay. The password is not here (PASSWORD_ENV)."""

    host: str
    sender: str  # the TOML's ``from``: an address, or ``Name <address>``
    port: int = 587
    security: str = "starttls"  # "starttls", "ssl" (implicit TLS) or "none"
    user: str | None = None  # None: no AUTH
    cafile: str | None = None  # PEM file of the CAs to trust instead of the system's


USER_FIELD_KINDS = ("remote_user", "request_header", "response_header", "cookie")


@dataclass(frozen=True)
class UserField:
    """Where the authenticated user name is: ``remote_user`` or a header/cookie by name."""

    kind: str = "remote_user"
    name: str | None = None

    @classmethod
    def parse(cls, spec: str) -> UserField:
        """Read ``remote_user``, ``request_header:X-User``, ``response_header:X-User`` or ``cookie:u``."""
        kind, _, name = spec.partition(":")
        kind = kind.strip()
        name = name.strip()
        if kind not in USER_FIELD_KINDS:
            raise ConfigError(
                f"user.field: unknown kind {kind!r} (expected one of {', '.join(USER_FIELD_KINDS)})"
            )
        if kind == "remote_user":
            if name:
                raise ConfigError("user.field: 'remote_user' takes no name")
            return cls()
        if not name:
            raise ConfigError(f"user.field: {kind!r} needs a name, e.g. '{kind}:X-Remote-User'")
        return cls(kind, name)

    @property
    def column(self) -> str:
        """The warehouse column holding this field (see the dataset schema in the README)."""
        if self.kind == "remote_user":
            return "remote_user"
        return f"{_COLUMN_PREFIX[self.kind]}{column_suffix(self.name or '')}"


_COLUMN_PREFIX = {"request_header": "req_", "response_header": "resp_", "cookie": "cookie_"}


def column_suffix(name: str) -> str:
    """Header/cookie name -> column suffix: lower case, dashes to underscores (``X-User`` -> ``x_user``)."""
    return re.sub(r"[^0-9a-z_]", "_", name.strip().lower().replace("-", "_"))


@dataclass(frozen=True)
class Config:
    """Everything that decides how hits are read and interpreted. Immutable; build with ``load_config``."""

    timezone: str = "America/Lima"
    log_format: str = "combined"
    session_timeout_minutes: float = 30.0
    user_field: UserField = field(default_factory=UserField)
    bot_extra_patterns: tuple[str, ...] = ()
    empty_user_agent_is_bot: bool = True
    static_prefixes: tuple[str, ...] = STATIC_PREFIXES
    static_extensions: tuple[str, ...] = STATIC_EXTENSIONS
    page_excluded_prefixes: tuple[str, ...] = ("/api/", "/descargas/")
    page_methods: tuple[str, ...] = ("GET",)
    page_statuses: tuple[int, ...] = (200, 304)
    page_groups: PageGroups = field(default_factory=PageGroups)
    events: tuple[EventRule, ...] = DEFAULT_EVENTS
    matrices: tuple[MatrixSpec, ...] = DEFAULT_MATRICES
    programme: str = "Programa Nacional CONTIGO"
    application: str = "USUARIO ALIADO"
    mail: MailSettings | None = None
    #: ``[privacy] anonymize_ip``: the ingest stores client addresses shortened (``privacy``)
    anonymize_ip: bool = False

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def column_header(self, key: str) -> str:
        """Spanish header of a matrix column key."""
        for ev in self.events:
            if ev.name == key:
                return ev.label
        return BUILTIN_COLUMNS[key]

    def with_overrides(self, **changes: Any) -> Config:
        return replace(self, **changes)


# --- loading -------------------------------------------------------------------------------

_TOP_KEYS = {
    "timezone", "log_format", "session_timeout_minutes", "programme", "application",
    "user", "bots", "pages", "events", "matrices", "mail", "privacy",
}  # fmt: skip


def _check_keys(where: str, table: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise ConfigError(
            f"{where}: unknown key {unknown[0]!r} (allowed: {', '.join(sorted(allowed))})"
        )


def _typed(where: str, value: Any, kind: type | tuple[type, ...], what: str) -> Any:
    if (
        isinstance(value, bool)
        and kind is not bool
        and bool not in (kind if isinstance(kind, tuple) else (kind,))
    ):
        raise ConfigError(f"{where}: expected {what}, got {value!r}")
    if not isinstance(value, kind):
        raise ConfigError(f"{where}: expected {what}, got {value!r}")
    return value


def _str_list(where: str, value: Any) -> tuple[str, ...]:
    _typed(where, value, list, "a list of strings")
    for i, v in enumerate(value):
        _typed(f"{where}[{i}]", v, str, "a string")
    return tuple(value)


def _int_list(where: str, value: Any) -> tuple[int, ...]:
    _typed(where, value, list, "a list of HTTP status codes")
    for i, v in enumerate(value):
        _typed(f"{where}[{i}]", v, int, "an HTTP status code")
        if not 100 <= v <= 599:
            raise ConfigError(f"{where}[{i}]: {v} is not an HTTP status code (100-599)")
    return tuple(value)


def _regex(where: str, pattern: str) -> str:
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ConfigError(f"{where}: invalid regular expression {pattern!r}: {exc}") from None
    return pattern


def _events(where: str, raw: Any) -> tuple[EventRule, ...]:
    _typed(where, raw, list, "an array of tables ([[events]])")
    rules: list[EventRule] = []
    seen: set[str] = set()
    allowed = {"name", "label", "method", "statuses", "path", "path_prefix", "path_regex"}
    for i, item in enumerate(raw):
        w = f"{where}[{i}]"
        _typed(w, item, dict, "a table")
        _check_keys(w, item, allowed)
        for req in ("name", "method", "statuses"):
            if req not in item:
                raise ConfigError(f"{w}: missing key {req!r}")
        name = _typed(f"{w}.name", item["name"], str, "a string")
        if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
            raise ConfigError(f"{w}.name: {name!r} must be lower-case letters, digits, underscores")
        if name in seen or name in BUILTIN_COLUMNS:
            raise ConfigError(f"{w}.name: {name!r} is used twice")
        seen.add(name)
        matchers = [k for k in ("path", "path_prefix", "path_regex") if k in item]
        if len(matchers) != 1:
            raise ConfigError(f"{w}: give exactly one of 'path', 'path_prefix', 'path_regex'")
        m = matchers[0]
        value = _typed(f"{w}.{m}", item[m], str, "a string")
        if m == "path_regex":
            _regex(f"{w}.path_regex", value)
        rules.append(
            EventRule(
                name=name,
                label=_typed(f"{w}.label", item.get("label", name), str, "a string"),
                method=_typed(f"{w}.method", item["method"], str, "an HTTP method").upper(),
                statuses=_int_list(f"{w}.statuses", item["statuses"]),
                **{m: value},
            )
        )
    return tuple(rules)


def _matrices(where: str, raw: Any, column_keys: set[str]) -> tuple[MatrixSpec, ...]:
    _typed(where, raw, list, "an array of tables ([[matrices]])")
    out: list[MatrixSpec] = []
    allowed = {"key", "title", "file_stem", "tipos", "columns"}
    for i, item in enumerate(raw):
        w = f"{where}[{i}]"
        _typed(w, item, dict, "a table")
        _check_keys(w, item, allowed)
        for req in allowed:
            if req not in item:
                raise ConfigError(f"{w}: missing key {req!r}")
        cols = _str_list(f"{w}.columns", item["columns"])
        for j, c in enumerate(cols):
            if c not in column_keys:
                raise ConfigError(
                    f"{w}.columns[{j}]: unknown column {c!r} "
                    f"(known: {', '.join(sorted(column_keys))})"
                )
        stem = _typed(f"{w}.file_stem", item["file_stem"], str, "a string")
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", stem):
            raise ConfigError(f"{w}.file_stem: {stem!r} is not a safe file name")
        tipos = tuple(t.strip().upper() for t in _str_list(f"{w}.tipos", item["tipos"]))
        out.append(
            MatrixSpec(
                key=_typed(f"{w}.key", item["key"], str, "a string"),
                title=_typed(f"{w}.title", item["title"], str, "a string"),
                file_stem=stem,
                tipos=tipos,
                columns=cols,
            )
        )
    return tuple(out)


def _page_groups(source: str, pages: dict[str, Any]) -> PageGroups:
    """``groups`` and ``id_segments`` of the ``[pages]`` table (see page_groups)."""
    patterns = _str_list(f"{source}: pages.groups", pages.get("groups", []))
    id_segments = _typed(
        f"{source}: pages.id_segments", pages.get("id_segments", True), bool, "true or false"
    )
    try:
        return PageGroups(patterns, id_segments)
    except PageGroupError as exc:
        raise PageGroupError(
            key=exc.key, pattern=exc.pattern, problem=exc.problem, source=source
        ) from None


def mail_address(where: str, text: str) -> str:
    """Check one address (``a@b.pe`` or ``Name <a@b.pe>``); a ConfigError names ``where``."""
    try:
        header = email.policy.default.header_factory("To", text)
        (addr,) = header.addresses
        ok = not header.defects and addr.username and addr.domain
    except (ValueError, IndexError):  # the parser's way of failing on some inputs
        ok = False
    if not ok:
        raise ConfigError(f"{where}: {text!r} is not one e-mail address")
    return str(addr)


def _mail(source: str, raw: Any) -> MailSettings:
    m = _typed(f"{source}: [mail]", raw, dict, "a table")
    if "password" in m:
        raise ConfigError(f"{source}: mail.password: not read from a file; set {PASSWORD_ENV}")
    _check_keys(f"{source}: [mail]", m, {"host", "port", "security", "user", "from", "cafile"})
    for req in ("host", "from"):
        if req not in m:
            raise ConfigError(f"{source}: [mail]: missing key {req!r}")
    text = {
        k: _typed(f"{source}: mail.{k}", v, str, "a string") for k, v in m.items() if k != "port"
    }
    security = text.get("security", "starttls")
    if security not in MAIL_SECURITY:
        raise ConfigError(
            f"{source}: mail.security: {security!r} is not one of {', '.join(MAIL_SECURITY)}"
        )
    port = _typed(f"{source}: mail.port", m.get("port", MAIL_SECURITY[security]), int, "a port")
    if not 0 < port < 65536:
        raise ConfigError(f"{source}: mail.port: {port} is not a port number (1-65535)")
    return MailSettings(
        host=text["host"],
        sender=mail_address(f"{source}: mail.from", text["from"]),
        port=port,
        security=security,
        user=text.get("user"),
        cafile=text.get("cafile"),
    )


def _privacy(source: str, raw: Any) -> dict[str, Any]:
    """The ``[privacy]`` table: ``anonymize_ip`` (true or false)."""
    t = _typed(f"{source}: [privacy]", raw, dict, "a table")
    _check_keys(f"{source}: [privacy]", t, {"anonymize_ip"})
    if "anonymize_ip" not in t:
        return {}
    where = f"{source}: privacy.anonymize_ip"
    return {"anonymize_ip": _typed(where, t["anonymize_ip"], bool, "true or false")}


def config_from_dict(data: dict[str, Any], *, source: str = "config") -> Config:
    """Build a Config from parsed TOML, validating every key; errors name ``source`` and the key."""
    _check_keys(source, data, _TOP_KEYS)
    kw: dict[str, Any] = {}
    if "timezone" in data:
        tz = _typed(f"{source}: timezone", data["timezone"], str, "a time zone name")
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"{source}: timezone: unknown time zone {tz!r}") from None
        kw["timezone"] = tz
    for key in ("log_format", "programme", "application"):
        if key in data:
            kw[key] = _typed(f"{source}: {key}", data[key], str, "a string")
    if "session_timeout_minutes" in data:
        v = _typed(f"{source}: session_timeout_minutes", data["session_timeout_minutes"],
                   (int, float), "a number of minutes")  # fmt: skip
        if not 0 < v <= 24 * 60:
            raise ConfigError(f"{source}: session_timeout_minutes: {v} is not in (0, 1440]")
        kw["session_timeout_minutes"] = float(v)
    if "user" in data:
        u = _typed(f"{source}: [user]", data["user"], dict, "a table")
        _check_keys(f"{source}: [user]", u, {"field"})
        if "field" in u:
            spec = _typed(f"{source}: user.field", u["field"], str, "a string")
            try:
                kw["user_field"] = UserField.parse(spec)
            except ConfigError as exc:
                raise ConfigError(f"{source}: {exc}") from None
    if "bots" in data:
        b = _typed(f"{source}: [bots]", data["bots"], dict, "a table")
        _check_keys(f"{source}: [bots]", b, {"extra_patterns", "empty_user_agent_is_bot"})
        if "extra_patterns" in b:
            pats = _str_list(f"{source}: bots.extra_patterns", b["extra_patterns"])
            for i, p in enumerate(pats):
                _regex(f"{source}: bots.extra_patterns[{i}]", p)
            kw["bot_extra_patterns"] = pats
        if "empty_user_agent_is_bot" in b:
            kw["empty_user_agent_is_bot"] = _typed(
                f"{source}: bots.empty_user_agent_is_bot",
                b["empty_user_agent_is_bot"],
                bool,
                "true or false",
            )
    if "pages" in data:
        p = _typed(f"{source}: [pages]", data["pages"], dict, "a table")
        keys = {
            "static_prefixes", "static_extensions", "excluded_prefixes", "methods", "statuses",
            "groups", "id_segments",
        }  # fmt: skip
        _check_keys(f"{source}: [pages]", p, keys)
        if "static_prefixes" in p:
            kw["static_prefixes"] = _str_list(
                f"{source}: pages.static_prefixes", p["static_prefixes"]
            )
        if "static_extensions" in p:
            exts = _str_list(f"{source}: pages.static_extensions", p["static_extensions"])
            kw["static_extensions"] = tuple(e if e.startswith(".") else "." + e for e in exts)
        if "excluded_prefixes" in p:
            kw["page_excluded_prefixes"] = _str_list(
                f"{source}: pages.excluded_prefixes", p["excluded_prefixes"]
            )
        if "methods" in p:
            kw["page_methods"] = tuple(
                m.upper() for m in _str_list(f"{source}: pages.methods", p["methods"])
            )
        if "statuses" in p:
            kw["page_statuses"] = _int_list(f"{source}: pages.statuses", p["statuses"])
        if "groups" in p or "id_segments" in p:
            kw["page_groups"] = _page_groups(source, p)
    if "events" in data:
        kw["events"] = _events(f"{source}: events", data["events"])
    if "mail" in data:
        kw["mail"] = _mail(source, data["mail"])
    if "privacy" in data:
        kw.update(_privacy(source, data["privacy"]))
    events = kw.get("events", DEFAULT_EVENTS)
    column_keys = set(BUILTIN_COLUMNS) | {e.name for e in events}
    if "matrices" in data:
        kw["matrices"] = _matrices(f"{source}: matrices", data["matrices"], column_keys)
    else:
        for m in DEFAULT_MATRICES:
            missing = [c for c in m.columns if c not in column_keys]
            if missing:
                raise ConfigError(
                    f"{source}: the default matrix {m.key!r} needs event {missing[0]!r}; "
                    "define [[matrices]] for your events"
                )
    return Config(**kw)


def load_config(path: str | Path | None) -> Config:
    """Read a TOML file into a Config; ``None`` gives the defaults."""
    if path is None:
        return Config()
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{p}: configuration file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: cannot read configuration: {exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: invalid TOML: {exc}") from None
    return config_from_dict(data, source=str(p))


def normalize_user(name: str) -> str:
    """The join key for a user name: trimmed and case-folded, as SPEC says names match the table."""
    return name.strip().casefold()
