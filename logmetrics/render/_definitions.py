"""The metric definitions in Spanish, shown in the HTML and the XLSX "Notas" sheet.

They restate SPEC's definitions for the reader of the report, filled in from the configuration
(event rules, session timeout, time zone) so they describe the rules that produced the figures.
"""

from __future__ import annotations

from ..config import Config, EventRule
from ..page_groups import PageGroups
from ._common import zone_label
from ._coverage import coverage_definition


def _statuses(codes: tuple[int, ...]) -> str:
    words = [str(c) for c in codes]
    if len(words) == 1:
        return f"el código {words[0]}"
    return "los códigos " + ", ".join(words[:-1]) + " o " + words[-1]


def _event_rule(rule: EventRule) -> str:
    if rule.path is not None:
        where = f"a la ruta {rule.path}"
    elif rule.path_prefix is not None:
        where = f"a rutas que empiezan por {rule.path_prefix}"
    else:
        where = f"a rutas que cumplen la expresión regular {rule.path_regex}"
    return (
        f"Cantidad de peticiones {rule.method} {where} respondidas con "
        f"{_statuses(rule.statuses)}, hechas por personas (no robots)."
    )


def _page_groups(groups: PageGroups) -> str:
    """«Página o grupo»: the configured patterns, then the default rule, as the report used."""
    rules = []
    if groups.patterns:
        rules.append(
            "la página cuenta en la primera de estas rutas que coincide con ella ({nombre} es un "
            f"tramo de la ruta o parte de uno): {', '.join(groups.patterns)}"
        )
    if groups.id_segments:
        rules.append(
            "todo tramo de la ruta que es un identificador de registro (un número, un UUID, un "
            "código hexadecimal de 16 o más caracteres o uno tipo base64 de 20 o más que mezcla "
            "letras y dígitos, con o sin extensión) se reemplaza por {id}, así ningún "
            "identificador aparece en el reporte"
        )
    elif rules:
        rules.append("la página es su propia fila")
    if not rules:
        return "Fila de la tabla Páginas: cada página es su propia fila (no se agrupan)."
    how = "; si ninguna coincide, ".join(rules)
    return (
        "Fila de la tabla Páginas: una página, o las páginas de una misma ruta. "
        + how[0].upper()
        + how[1:]
        + ". Las vistas, entradas, salidas y rebotes del grupo suman los de sus páginas; las "
        "vistas únicas cuentan cada sesión una vez por grupo; la columna Páginas distintas dice "
        "cuántas páginas reúne."
    )


def _minutes(value: float) -> str:
    return f"{value:g}"


def definitions(config: Config) -> list[tuple[str, str]]:
    """(term, definition) pairs, in reading order."""
    items = _requests(config) + _metrics(config)
    items += [(rule.label, _event_rule(rule)) for rule in config.events]
    items.append(coverage_definition())
    items.append(
        (
            "Redondeo",
            "Duraciones y porcentajes se redondean al medio hacia arriba (30.5 s → 00:00:31; "
            "3.125 → 3.13). Un porcentaje cuyo divisor es cero se deja vacío, no en 0.",
        )
    )
    return items


def _requests(config: Config) -> list[tuple[str, str]]:
    """What the logs hold and how hits are read: requests, bots, page views, events, visitors,
    sessions."""
    timeout = _minutes(config.session_timeout_minutes)
    statuses = " o ".join(str(s) for s in config.page_statuses)
    excluded = ", ".join(config.page_excluded_prefixes) or "ninguna"
    clock = zone_label(config.timezone)
    return [
        (
            "Petición",
            "Cada línea del registro de acceso del servidor web (una petición HTTP). Las horas "
            f"se expresan en la {clock} ({config.timezone}).",
        ),
        (
            "Petición de robot",
            "Petición cuyo agente de usuario corresponde a un rastreador, araña, monitor o cliente "
            "automatizado (curl, python-requests, navegadores sin interfaz…), o que no declara "
            "agente de usuario. Se conserva en el almacén pero se excluye de todas las métricas.",
        ),
        (
            "Vista de página",
            f"Petición {'/'.join(config.page_methods)} de una persona respondida con {statuses} "
            "que no es un recurso estático (hojas de estilo, scripts, imágenes, fuentes), no "
            f"está bajo {excluded} y no es un evento. La página es la ruta sin la cadena de "
            "consulta.",
        ),
        ("Página o grupo", _page_groups(config.page_groups)),
        (
            "Evento",
            "Acción de una persona reconocida por una regla: ingreso a la aplicación, descarga, "
            "uso de un botón de reporte o solicitud remitida (ver abajo).",
        ),
        (
            "Peticiones de interacción",
            "Vistas de página más eventos. Ninguna otra petición (recursos estáticos, errores, "
            "ingresos fallidos, otros métodos) cuenta para sesiones ni métricas.",
        ),
        (
            "Visitante",
            "El usuario autenticado (sin espacios al inicio o al final, sin distinguir "
            "mayúsculas); para las peticiones anónimas, el par dirección IP y agente de usuario. Los "
            "visitantes anónimos cuentan en los totales del mes, nunca en la fila de un aliado.",
        ),
        (
            "Sesión",
            "Peticiones de interacción de un visitante en orden de tiempo. Una nueva sesión "
            f"empieza cuando pasan más de {timeout} minutos desde la petición anterior o cuando cambia la "
            f"fecha ({clock}); por eso una sesión nunca cruza la medianoche ni el mes.",
        ),
    ]


def _metrics(config: Config) -> list[tuple[str, str]]:
    """The matrices' figures, as the memo names them."""
    return [
        ("Vistas de página", "Cantidad de vistas de página."),
        (
            "Número de vistas de página únicas",
            "Cantidad de pares distintos (sesión, página): una página vista varias veces en la "
            "misma sesión cuenta una sola vez (en la tabla Páginas, pares (sesión, grupo)).",
        ),
        (
            "Tiempo en la página",
            "Tiempo hasta la siguiente vista de página de la misma sesión. La última vista de "
            "página de una sesión no tiene tiempo en la página.",
        ),
        (
            "Promedio de tiempo en la página",
            "Suma de los tiempos en la página ÷ (vistas de página − salidas), en horas, minutos "
            "y segundos (HH:MM:SS, las horas pueden pasar de 99) redondeado al segundo; 00:00:00 "
            "cuando el divisor es 0.",
        ),
        ("Salida", "La última vista de página de cada sesión que tiene alguna."),
        ("Porcentaje de salidas", "Salidas ÷ vistas de página × 100."),
        ("Rebote", "Sesión con exactamente una petición de interacción."),
        ("Porcentaje de rebote", "Rebotes ÷ sesiones × 100."),
        (
            "Fecha y hora de última conexión",
            "La petición de interacción más reciente de cualquiera de los usuarios del aliado hasta "
            "el fin del mes reportado, según todo el historial almacenado (un aliado sin "
            "actividad en el mes muestra cuándo se conectó por última vez); vacío si nunca.",
        ),
        (
            "Aliado activo",
            "Aliado con al menos una petición de interacción de alguno de sus usuarios en el mes.",
        ),
        (
            "Usuario desconocido",
            "Nombre de usuario visto en los registros que la tabla de aliados no contiene. Sus "
            "peticiones no cuentan en ninguna fila de aliado: conviene agregarlo a la tabla.",
        ),
    ]
