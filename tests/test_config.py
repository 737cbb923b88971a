"""Configuration: SPEC's defaults, TOML overrides, and one clear error per mistake."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from logmetrics.config import Config, UserField, config_from_dict, load_config, normalize_user
from logmetrics.errors import ConfigError, LogmetricsError


def test_defaults_follow_spec_url_map() -> None:
    """The default events are SPEC's table: login, download, four buttons, request submitted."""
    cfg = Config()
    by_name = {e.name: e for e in cfg.events}
    assert by_name["ingresos"].method == "POST" and by_name["ingresos"].statuses == (302, 303)
    assert by_name["descargas"].path_prefix == "/descargas/"
    assert by_name["solicitudes"].statuses == (201, 302, 303)
    assert by_name["menores_sin_autorizacion"].path == "/api/reportes/menores-sin-autorizacion"
    assert cfg.timezone == "America/Lima" and cfg.session_timeout_minutes == 30


def test_default_matrices_have_memo_columns_in_order() -> None:
    """Matrix 1 holds GR+GL with 19 columns, Tipo after Entidad; matrix 2 (OA) lacks only Tipo
    and 'menores sin autorización'."""
    gob, otros = Config().matrices
    assert gob.tipos == ("GR", "GL") and otros.tipos == ("OA",)
    headers = [Config().column_header(c) for c in gob.columns]
    assert headers[:6] == ["Ubigeo", "Región", "Provincia", "Distrito", "Entidad", "Tipo"]
    assert headers[6] == "Número de ingresos a la aplicación"
    assert headers[11] == "Número de usos del botón menores sin autorización"
    assert headers[-1] == "Porcentaje de salidas"
    assert len(gob.columns) == 19
    assert [c for c in gob.columns if c not in otros.columns] == [
        "tipo", "menores_sin_autorizacion",
    ]  # fmt: skip


def test_toml_overrides(tmp_path: Path) -> None:
    """A TOML file changes the timeout, the user field and the events."""
    f = tmp_path / "c.toml"
    f.write_text(
        'session_timeout_minutes = 15\n[user]\nfield = "request_header:X-Remote-User"\n'
        '[[events]]\nname = "ingresos"\nmethod = "post"\npath = "/auth"\nstatuses = [302]\n'
        '[[matrices]]\nkey = "m"\ntitle = "M"\nfile_stem = "m"\ntipos = ["gr"]\n'
        'columns = ["ubigeo", "ingresos", "vistas"]\n',
        encoding="utf-8",
    )
    cfg = load_config(f)
    assert cfg.session_timeout_minutes == 15
    assert cfg.user_field == UserField("request_header", "X-Remote-User")
    assert cfg.user_field.column == "req_x_remote_user"
    assert cfg.events[0].method == "POST" and cfg.matrices[0].tipos == ("GR",)


@pytest.mark.parametrize(
    ("toml", "needle"),
    [
        ("sesion_timeout = 3\n", "unknown key 'sesion_timeout'"),
        ("[bots]\nextra_patterns = ['(unclosed']\n", "bots.extra_patterns[0]: invalid regular"),
        ("[user]\nfield = 'header:X'\n", "user.field: unknown kind 'header'"),
        ("timezone = 'Mars/Olympus'\n", "unknown time zone"),
        ("session_timeout_minutes = 0\n", "session_timeout_minutes"),
        ("[[events]]\nname = 'x'\nmethod = 'GET'\nstatuses = [200]\n", "exactly one of"),
        ("[[events]]\nname='x'\nmethod='GET'\npath='/x'\nstatuses=[999]\n", "not an HTTP status"),
        ("[pages]\nstatuses = 'x'\n", "pages.statuses: expected a list"),
        ("= broken", "invalid TOML"),
    ],
)
def test_config_errors_name_the_key(tmp_path: Path, toml: str, needle: str) -> None:
    """Each mistake is a ConfigError whose one-line message names the file and the key."""
    f = tmp_path / "bad.toml"
    f.write_text(toml, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(f)
    msg = str(info.value)
    assert needle in msg and str(f) in msg and "\n" not in msg


def test_custom_events_need_matrices() -> None:
    """Replacing the events without matrices that use them is refused, not silently empty."""
    with pytest.raises(ConfigError, match="needs event"):
        config_from_dict(
            {"events": [{"name": "a", "method": "GET", "path": "/a", "statuses": [200]}]}
        )


def test_missing_config_file(tmp_path: Path) -> None:
    """A missing file is named in the error."""
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.toml")


def test_normalize_user() -> None:
    """User names are trimmed and case-folded."""
    assert normalize_user("  GRCusco01 ") == "grcusco01"


_toml_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=10,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(
    st.sampled_from(["timezone", "log_format", "session_timeout_minutes", "user", "bots",
                     "pages", "events", "matrices", "x"]),
    _toml_values, max_size=4,
))  # fmt: skip
def test_config_fuzz_never_crashes(data: dict) -> None:
    """Arbitrary config values give a Config or a LogmetricsError, never another exception."""
    with contextlib.suppress(LogmetricsError):
        config_from_dict(data)
