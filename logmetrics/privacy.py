"""IP anonymization at ingest (``[privacy] anonymize_ip``): client addresses are shortened in
each parsed chunk, before it is written, so raw addresses never reach the store.

The rule is Google Analytics' IP anonymization: an IPv4 address keeps its first 24 bits
(``190.12.34.56`` -> ``190.12.34.0``), an IPv6 address its first 48, written in canonical
compressed form (``2001:db8:85a3:8d3:1319:8a2e:370:7348`` -> ``2001:db8:85a3::``), and an
IPv4-mapped IPv6 address follows the IPv4 rule (``::ffff:190.12.34.56`` ->
``::ffff:190.12.34.0``). A host name (httpd's ``HostnameLookups On``) loses its first label,
where reverse-DNS names carry the address (``190-12-34-56.dsl.isp.pe`` -> ``dsl.isp.pe``).
Anything else that holds no address (``-``, nginx's ``unix:``, ``unknown``) stays as it is.

What is shortened: ``remote_addr``; the request headers that carry the client's address
through proxies (``ADDRESS_HEADERS``: ``X-Forwarded-For``, ``Forwarded``, ``X-Real-IP`` ...,
every address in their value); and a rejected line's ``raw`` text (every address in it; a host
name in it is not recognisable as one and stays).

A column is converted once per distinct value (a chunk's 60,000 hits come from a few thousand
clients): IPv4 addresses, nearly all of them, by a polars regex; the other values in Python
(few: IPv6 clients, names).
"""

from __future__ import annotations

import ipaddress
import re

import polars as pl

#: Request headers (as ``req_`` column suffixes) that carry the client's address: RFC 7239's
#: ``Forwarded`` and the de-facto headers of proxies, load balancers and CDNs.
ADDRESS_HEADERS = (
    "forwarded", "x_forwarded_for", "x_original_forwarded_for", "x_real_ip", "x_client_ip",
    "client_ip", "true_client_ip", "cf_connecting_ip", "fastly_client_ip", "x_cluster_client_ip",
)  # fmt: skip

_OCTET = "(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
_V4 = rf"({_OCTET}\.{_OCTET}\.{_OCTET})\.{_OCTET}"
#: a whole value that is an IPv4 address (the polars regex; group 1: the first three octets)
_V4_VALUE = rf"^{_V4}$"
#: an IPv4 address inside text (the same in polars and in Python's ``re``)
_V4_TEXT = rf"\b{_V4}\b"
_V4_TEXT_RE = re.compile(_V4_TEXT)
_V4_KEEP = "${1}.0"
#: a run of the characters an IPv6 address is written with, holding two colons at least
_V6_RUN = r"[0-9A-Fa-f:.]*:[0-9A-Fa-f.]*:[0-9A-Fa-f:.]*"
_V6_RUN_RE = re.compile(_V6_RUN)
#: a host name: dot-separated labels, a letter somewhere (so not an IPv4 address)
_HOSTNAME = re.compile(r"(?=.*[A-Za-z])[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)+\.?")


def shorten_address(text: str) -> str | None:
    """``text`` shortened by the module's rule if it is one IP address, else None."""
    try:
        ip = ipaddress.ip_address(text.split("%", 1)[0])  # an IPv6 zone (%eth0) goes too
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return f"::ffff:{shorten_address(str(ip.ipv4_mapped))}"
    bits = 24 if ip.version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{bits}", strict=False).network_address)


def shorten_text(text: str) -> str:
    """``text`` with every IP address in it shortened (a list, a ``Forwarded`` header, a line)."""

    def v6(m: re.Match[str]) -> str:
        run = m.group()
        core = run.rstrip(".")
        short = shorten_address(core)
        return run if short is None else short + run[len(core) :]

    return _V6_RUN_RE.sub(v6, _V4_TEXT_RE.sub(r"\1.0", text))


def shorten_value(value: str) -> str:
    """One client address field: the address shortened, a host name without its first label,
    an address with a port (or in brackets) shortened inside it, anything else as it is."""
    short = shorten_address(value)
    if short is not None:
        return short
    if _HOSTNAME.fullmatch(value):
        return value.split(".", 1)[1]
    return shorten_text(value)


def _mapped(column: pl.Series, old: pl.Series, new: pl.Series) -> pl.Series:
    """``column`` with each value of ``old`` replaced by the ``new`` at its position."""
    changed = (old != new).fill_null(True)
    return column.replace(old.filter(changed), new.filter(changed))


def shorten_values(column: pl.Series) -> pl.Series:
    """A column of one client address per value (``remote_addr``), shortened. Each distinct
    value once (a chunk's 60,000 hits come from a few thousand clients): IPv4 addresses by a
    regex, the rest by ``shorten_value``."""
    distinct = column.drop_nulls().unique()
    prefix = distinct.str.extract(_V4_VALUE, 1)
    rest = distinct.filter(prefix.is_null())
    old = pl.concat([distinct.filter(prefix.is_not_null()), rest])
    short = pl.Series([shorten_value(v) for v in rest.to_list()], dtype=pl.String)
    return _mapped(column, old, pl.concat([prefix.drop_nulls() + ".0", short]))


def shorten_texts(column: pl.Series) -> pl.Series:
    """A column of text that may hold addresses anywhere (headers, rejected lines), shortened:
    each distinct value once, IPv4 by a regex replace, a value that may hold IPv6 by
    ``shorten_text``."""
    distinct = column.drop_nulls().unique()
    out = distinct.str.replace_all(_V4_TEXT, _V4_KEEP)
    maybe_v6 = out.str.contains(_V6_RUN)
    if maybe_v6.any():
        fixed = [shorten_text(v) for v in out.filter(maybe_v6).to_list()]
        out = out.scatter(maybe_v6.arg_true(), pl.Series(fixed, dtype=pl.String))
    return _mapped(column, distinct, out)


def address_columns(columns: list[str]) -> list[str]:
    """The columns of a hits frame whose values are client addresses or lists of them."""
    headers = {f"req_{h}" for h in ADDRESS_HEADERS}
    return [c for c in columns if c == "remote_addr" or c in headers]


def anonymize_hits(hits: pl.DataFrame) -> pl.DataFrame:
    """A hits frame with its client addresses shortened (``remote_addr`` and address headers)."""
    changed = [
        shorten_values(hits.get_column(c)) if c == "remote_addr"
        else shorten_texts(hits.get_column(c))
        for c in address_columns(hits.columns)
    ]  # fmt: skip
    return hits.with_columns(changed) if changed else hits


def anonymize_rejects(rejects: pl.DataFrame) -> pl.DataFrame:
    """A rejects frame whose lines' text has every address in it shortened."""
    if not rejects.height:
        return rejects
    return rejects.with_columns(shorten_texts(rejects.get_column("raw")))


__all__ = [
    "ADDRESS_HEADERS",
    "address_columns",
    "anonymize_hits",
    "anonymize_rejects",
    "shorten_address",
    "shorten_text",
    "shorten_value",
    "shorten_values",
    "shorten_texts",
]
