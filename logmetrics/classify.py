"""Interpretation of stored hits: bots, page views and events, decided at report time.

Nothing here is written back to the store, so a rule change applies to old months without
re-ingesting. Bot detection runs once per distinct user agent, never per row.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

import polars as pl

from .agents import is_crawler
from .config import Config, EventRule, normalize_user

log = logging.getLogger(__name__)


#: Columns of the hits schema that interpretation reads (plus the configured user column).
HIT_COLUMNS = ("ts", "remote_addr", "method", "path", "status", "user_agent", "source", "offset")


def bot_table(user_agents: Iterable[str | None], *, config: Config) -> pl.DataFrame:
    """Decide each distinct user agent once: ``user_agent`` -> ``is_bot``.

    A missing or blank user agent is a bot (scripts rarely send one; browsers always do),
    unless the configuration says otherwise; crawlerdetect answers for the others.
    """
    extra = [re.compile(p, re.IGNORECASE) for p in config.bot_extra_patterns]
    uas = list(user_agents)
    present = [ua for ua in uas if ua is not None and ua.strip()]
    verdict = {ua: is_crawler(ua) for ua in present}
    flags = [
        (verdict[ua] or any(p.search(ua) for p in extra))
        if ua in verdict else config.empty_user_agent_is_bot
        for ua in uas
    ]  # fmt: skip
    return pl.DataFrame(
        {"user_agent": uas, "is_bot": flags}, schema={"user_agent": pl.Utf8, "is_bot": pl.Boolean}
    )


def _user_expr(config: Config, columns: Iterable[str]) -> pl.Expr:
    col = config.user_field.column
    if col not in set(columns):
        return pl.lit(None, dtype=pl.Utf8)
    return pl.col(col).cast(pl.Utf8)


def local_times(ts: pl.Series, tz: str) -> pl.Series:
    """Naive local wall-clock times in ``tz`` of UTC instants (µs)."""
    return ts.dt.cast_time_unit("us").dt.convert_time_zone(tz).dt.replace_time_zone(None)


def normalize_users(frame: pl.DataFrame, column: str = "user") -> pl.DataFrame:
    """Trim and case-fold a user column, mapping each distinct name once; blanks become null.

    Only the names that change are replaced: logs mostly hold names already in their key form,
    and leaving those rows alone skips a hash lookup per row.
    """
    distinct = frame.get_column(column).drop_nulls().unique().to_list()
    changed = {name: (normalize_user(name) or None) for name in distinct}
    changed = {name: key for name, key in changed.items() if key != name}
    if not changed:
        return frame
    return frame.with_columns(
        pl.col(column).replace(list(changed), pl.Series(list(changed.values()), dtype=pl.Utf8))
    )


def _path_match(rule: EventRule) -> pl.Expr:
    """Exact and prefix rules as plain string comparisons: far cheaper than a regex per row."""
    path = pl.col("path").fill_null("")
    if rule.path is not None:
        return path == rule.path
    if rule.path_prefix is not None:
        return path.str.starts_with(rule.path_prefix)
    return path.str.contains(rule.path_pattern())


def label_hits(hits: pl.DataFrame, *, config: Config) -> pl.DataFrame:
    """Add ``is_bot``, ``event``, ``is_pageview``, ``user``, ``page`` and local-time columns (the configured time zone).

    Input: hits-schema columns (at least ``HIT_COLUMNS`` and the configured user column).
    """
    hits = hits.with_columns(_user_expr(config, hits.columns).alias("user"))
    bots = bot_table(hits.get_column("user_agent").unique().to_list(), config=config)
    is_bot = pl.col("user_agent").is_in(bots.filter("is_bot").get_column("user_agent").to_list())
    null_is_bot = bool(bots.filter(pl.col("user_agent").is_null()).get_column("is_bot").any())
    hits = hits.with_columns(is_bot.fill_null(null_is_bot).alias("is_bot"))
    hits = normalize_users(hits)

    # Rules depend only on (method, path, status): decide each distinct request once, then
    # join back; a day has far fewer distinct requests than hits. Only the three key columns
    # go through the join (it copies what it carries): the verdicts are then added alongside.
    keys = hits.select("method", "path", "status")
    requests = keys.unique().with_columns(_rule_exprs(config))
    verdicts = keys.join(
        requests, on=list(keys.columns), how="left", nulls_equal=True, maintain_order="left"
    )
    hits = hits.with_columns(verdicts.get_column("_event"), verdicts.get_column("_page_candidate"))
    del keys, verdicts

    human = ~pl.col("is_bot")
    local = local_times(hits.get_column("ts"), config.timezone)
    is_pageview = human & pl.col("_page_candidate")
    return (
        hits.with_columns(
            pl.when(human).then(pl.col("_event")).otherwise(None).alias("event"),
            is_pageview.alias("is_pageview"),
            local.alias("local_ts"),
            pl.when(is_pageview).then(pl.col("path").fill_null("")).otherwise(None).alias("page"),
        )
        .with_columns(pl.col("local_ts").dt.date().alias("local_date"))
        .drop("_event", "_page_candidate")
    )


def _rule_exprs(config: Config) -> list[pl.Expr]:
    """``_event`` (first matching event rule) and ``_page_candidate`` (a page view if human)."""
    path = pl.col("path").fill_null("")
    status = pl.col("status").cast(pl.Int64)
    method = pl.col("method").fill_null("")
    event: pl.Expr = pl.lit(None, dtype=pl.Utf8)
    for rule in reversed(config.events):  # first rule in the config wins
        cond = (method == rule.method) & status.is_in(list(rule.statuses)) & _path_match(rule)
        event = pl.when(cond).then(pl.lit(rule.name)).otherwise(event)

    lower = path.str.to_lowercase()
    static = pl.lit(False)
    for prefix in config.static_prefixes:
        static = static | path.str.starts_with(prefix)
    for ext in config.static_extensions:
        static = static | lower.str.ends_with(ext.lower())
    excluded = pl.lit(False)
    for prefix in config.page_excluded_prefixes:
        excluded = excluded | path.str.starts_with(prefix)
    candidate = (
        event.is_null()
        & method.is_in(list(config.page_methods))
        & status.is_in(list(config.page_statuses))
        & ~static
        & ~excluded
    )
    return [event.alias("_event"), candidate.fill_null(False).alias("_page_candidate")]


INTERACTION_COLUMNS = (
    "ts", "local_ts", "local_date", "visitor", "user", "event", "is_pageview", "page",
    "user_agent", "source", "offset",
)  # fmt: skip


def is_interaction() -> pl.Expr:
    """A labelled hit that counts: a human's page view or event."""
    return ~pl.col("is_bot") & (pl.col("is_pageview") | pl.col("event").is_not_null())


def interactions(labelled: pl.DataFrame) -> pl.DataFrame:
    """Keep the human interaction hits (page views + events) with the interactions-frame columns,
    adding ``visitor``: the user, or ``anon:<ip>|<user agent>`` for anonymous hits."""
    needed = {*INTERACTION_COLUMNS, "remote_addr", "is_bot"} - {"visitor"}
    kept = labelled.select([c for c in labelled.columns if c in needed]).filter(is_interaction())
    # built after the filter: most hits (assets, bots) never need a visitor key
    return kept.with_columns(_visitor().alias("visitor")).select(INTERACTION_COLUMNS)


def _visitor() -> pl.Expr:
    """The user, or ``anon:<ip>|<user agent>`` for anonymous hits."""
    anonymous = pl.concat_str(
        [
            pl.lit("anon:"),
            pl.col("remote_addr").fill_null(""),
            pl.lit("|"),
            pl.col("user_agent").fill_null(""),
        ]
    )
    return pl.when(pl.col("user").is_not_null()).then(pl.col("user")).otherwise(anonymous)


def user_names(hits: pl.DataFrame, *, config: Config) -> pl.Series:
    """The normalised ``user`` that ``label_hits`` gives each of these hits (null if none)."""
    return normalize_users(hits.select(_user_expr(config, hits.columns).alias("user"))).to_series()
