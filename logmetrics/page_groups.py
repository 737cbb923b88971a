"""Page groups: the Páginas table's rows are routes, not record pages, and show no record ids.

A report that is mailed around must not list beneficiaries' record ids, and a hundred
``/beneficiarios/<id>`` rows of one view each tell the reader nothing. So each page (a path
without its query string) is read as a group, the way GA's content grouping does:

1. the first of the configured patterns (``[pages] groups``) that matches the whole path names
   it: ``/beneficiarios/{id}``, where ``{name}`` stands for one path segment or part of one
   (a pattern without one keeps that page as it is, away from the default rule);
2. otherwise, by default (``id_segments``), every segment that is a record id becomes ``{id}``
   (``/beneficiarios/12345/editar`` → ``/beneficiarios/{id}/editar``): a number, a UUID, a hex
   token of 16+ characters or a base64-like token of 20+ characters mixing letters and digits,
   each optionally followed by a file extension (``12345.pdf`` → ``{id}.pdf``); so do a UUID,
   a hex token or a number of 5+ digits inside a segment (``ficha-12345678`` → ``ficha-{id}``);
3. otherwise the path is its own group.

Grouping is interpretation, done at report time: a rule change applies to old months without
re-ingesting.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from .errors import PageGroupError

#: What a record id segment becomes.
ID = "{id}"

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_UUID = re.compile(r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}")
_NUMBER = re.compile(r"[0-9]+")
_HEX = re.compile(r"[0-9a-f]{16,}|[0-9A-F]{16,}")
#: base64 / base64url / JWT-ish text, percent escapes allowed (``_is_token`` says what else)
_TOKEN = re.compile(r"[A-Za-z0-9_\-.~+=%]{20,}")
_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")
_ALNUM_RUN = re.compile(r"[A-Za-z0-9]{8,}")
_SWITCH = re.compile(r"(?<=[A-Za-z])[0-9]|(?<=[0-9])[A-Za-z]")
_EXTENSION = re.compile(r"(.+?)(\.[A-Za-z][A-Za-z0-9]{0,4})")
#: an id inside a segment, between non-alphanumerics (``ficha-12345678``, ``reporte-<uuid>``):
#: numbers of 5+ digits (years and short counters stay), UUIDs and hex of 16+; a percent
#: escape (``%20``) is matched first, to be kept, so its hex digits are never part of an id
_INNER = re.compile(
    r"(%[0-9A-Fa-f]{2})|(?:(?<![A-Za-z0-9])|(?<=%[0-9A-Fa-f]{2}))"
    rf"(?:{_UUID.pattern}|[0-9]{{5,}}|{_HEX.pattern})(?![A-Za-z0-9])"
)


def _inner_ids(text: str, mark: str) -> str:
    """``text`` with each id inside it as ``mark``."""
    return _INNER.sub(lambda m: m.group(1) or mark, text)


def _is_token(text: str) -> bool:
    """20+ token characters holding a run of 8+ letters and digits that switches between them
    at least twice (``x7Kp2m…``). Word slugs have none: ``menores-sin-autorizacion``,
    ``padron-beneficiarios-2022-03`` and ``guia-windows10`` keep their words and numbers apart
    (a percent escape such as ``%20`` separates too), while a random token of 20 characters
    almost surely has one."""
    if not _TOKEN.fullmatch(text):
        return False
    words = _ESCAPE.sub("-", _inner_ids(text, "-"))  # ``reporte-<uuid>``: a slug with an id
    return any(len(_SWITCH.findall(run)) >= 2 for run in _ALNUM_RUN.findall(words))


def _is_id(text: str) -> bool:
    whole = _NUMBER.fullmatch(text) or _UUID.fullmatch(text) or _HEX.fullmatch(text)
    return whole is not None or _is_token(text)


def id_segment(segment: str) -> str | None:
    """What the default rule makes of one path segment: ``{id}``, or ``{id}.ext`` for an id
    with a file extension (``12345.pdf``), or the segment with the ids inside it as ``{id}``
    (``ficha-{id}``); None when it holds no record id."""
    split = _EXTENSION.fullmatch(segment)
    stem, extension = (split.group(1), split.group(2)) if split else (segment, "")
    if stem and _is_id(stem):
        return ID + extension
    inner = _inner_ids(segment, ID)
    return inner if inner != segment else None


def pattern_problem(pattern: str) -> str | None:
    """Why ``pattern`` is not a usable group pattern, or None when it is."""
    if not pattern.startswith("/"):
        return "does not start with '/'"
    if "?" in pattern or "#" in pattern:
        return "holds a query string or fragment: a page is a path only"
    literal = _PLACEHOLDER.sub("", pattern)
    if "{" in literal or "}" in literal:
        return "holds a '{' or '}' that is no placeholder '{name}' (letters, digits, '_')"
    return None


def pattern_regex(pattern: str) -> re.Pattern[str]:
    """The anchored regex of a valid group pattern: its text literally, each ``{name}`` one or
    more characters of one path segment."""
    parts = _PLACEHOLDER.split(pattern)
    # split() alternates literal text and placeholder names
    regex = "".join(re.escape(p) if i % 2 == 0 else "[^/]+" for i, p in enumerate(parts))
    return re.compile(regex)


@dataclass(frozen=True)
class PageGroups:
    """The grouping a configuration asks for: ``patterns`` (first match wins), then, when
    ``id_segments``, the default rule. ``group(path)`` names a path's group."""

    patterns: tuple[str, ...] = ()
    id_segments: bool = True
    _regexes: tuple[re.Pattern[str], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for i, pattern in enumerate(self.patterns):
            problem = pattern_problem(pattern)
            if problem is not None:
                raise PageGroupError(key=f"pages.groups[{i}]", pattern=pattern, problem=problem)
        object.__setattr__(self, "_regexes", tuple(pattern_regex(p) for p in self.patterns))

    def group(self, path: str) -> str:
        """The group of one page: the first matching pattern, else the path with its record id
        segments as ``{id}`` (when ``id_segments``), else the path itself."""
        for pattern, regex in zip(self.patterns, self._regexes, strict=True):
            if regex.fullmatch(path):
                return pattern
        if not self.id_segments:
            return path
        segments = path.split("/")
        ids = [id_segment(s) for s in segments]
        if not any(ids):
            return path
        return "/".join(s if g is None else g for s, g in zip(segments, ids, strict=True))

    def groups(self, paths: Iterable[str]) -> dict[str, str]:
        """Each distinct path of ``paths`` to its group (each decided once)."""
        return {p: self.group(p) for p in set(paths)}
