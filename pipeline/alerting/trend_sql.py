"""The PostgreSQL form of the window computation: every scope kind and every end in one
statement, reading the span's items once through time-range scans (DESIGN §5).

Each of classifications, news_items and ticker_mentions carries the item's event time, so
all three are read by range and hash-joined, instead of probing two indexes per item.
"""

from __future__ import annotations

import functools

from sqlalchemy import TextClause, text

WORK_MEM = text("SET LOCAL work_mem = '64MB'")

# Every part names its columns: a UNION takes them from its first part, and the scopes
# setting decides which part comes first. Only ticker scopes weigh an item by relevance.
_PARTS = {
    "market": (
        "SELECT 'market' AS scope, 'market' AS kind, i.*,"
        " CAST(1.0 AS double precision) AS relevance FROM items i"
    ),
    "topic": (
        "SELECT 'topic:' || i.topic AS scope, 'topic' AS kind, i.*,"
        " CAST(1.0 AS double precision) AS relevance FROM items i"
    ),
    "ticker": (
        "SELECT 'ticker:' || m.symbol AS scope, 'ticker' AS kind, i.*, m.relevance FROM items i"
        " JOIN ticker_mentions m ON m.item_id = i.item_id"
        " AND m.event_time > :lo AND m.event_time <= :hi"
    ),
}

# `weighted`: each item of each window with its weight (pipeline.alerting.window_evidence).
# Only items with a copy in the span (same source and fingerprint) need the window function:
# a group of copies shares its largest relevance, split evenly. The rest weigh their
# relevance, unsorted.
_TEMPLATE = """
WITH items AS MATERIALIZED (
    SELECT c.item_id, c.event_time, c.topic, c.sentiment, c.score, n.source, n.content_hash,
           COALESCE(n.fingerprint, n.id) AS copy_key, d.fingerprint IS NOT NULL AS copied,
           CASE WHEN c.p_negative >= c.p_neutral AND c.p_negative >= c.p_positive THEN c.p_negative
                WHEN c.p_neutral >= c.p_positive THEN c.p_neutral
                ELSE c.p_positive END AS confidence
    FROM classifications c
    JOIN news_items n ON n.id = c.item_id AND n.event_time > :lo AND n.event_time <= :hi
    LEFT JOIN (
        SELECT source, fingerprint FROM news_items
        WHERE event_time > :lo AND event_time <= :hi AND fingerprint IS NOT NULL
        GROUP BY source, fingerprint HAVING count(*) > 1
    ) d ON d.source = n.source AND d.fingerprint = n.fingerprint
    WHERE c.model_version = :version AND c.event_time > :lo AND c.event_time <= :hi {english}
), scoped AS (
    {parts}
), ends AS (
    SELECT e AS window_end, e - make_interval(secs => CAST(:window_s AS double precision))
           AS window_start
    FROM unnest(CAST(:ends AS timestamptz[])) AS e
), windowed AS NOT MATERIALIZED (
    SELECT s.scope, s.kind, e.window_end, e.window_start, s.sentiment, s.score, s.confidence,
           s.source, s.content_hash, s.copy_key, s.copied, s.relevance
    FROM ends e
    JOIN scoped s ON s.event_time > e.window_start AND s.event_time <= e.window_end
), weighted AS (
    SELECT scope, kind, window_end, window_start, sentiment, score, confidence, source,
           content_hash, relevance AS weight
    FROM windowed WHERE NOT copied
    UNION ALL
    SELECT scope, kind, window_end, window_start, sentiment, score, confidence, source,
           content_hash, max(relevance) OVER copies / count(*) OVER copies
    FROM windowed WHERE copied
    WINDOW copies AS (PARTITION BY scope, window_end, source, copy_key)
)
INSERT INTO trend_windows (scope, window_end, window_start, scope_kind, count, sources, negative,
    positive, negative_share, positive_share, mean_score, reprint_adjusted, evidence,
    negative_evidence, model_version, computed_at)
SELECT w.scope, w.window_end, w.window_start, w.kind, count(*), count(DISTINCT w.source),
    count(*) FILTER (WHERE w.sentiment = 'negative'),
    count(*) FILTER (WHERE w.sentiment = 'positive'),
    CAST(count(*) FILTER (WHERE w.sentiment = 'negative') AS double precision) / count(*),
    CAST(count(*) FILTER (WHERE w.sentiment = 'positive') AS double precision) / count(*),
    sum(w.confidence * w.weight * w.score) / NULLIF(sum(w.confidence * w.weight), 0),
    count(DISTINCT w.content_hash), sum(w.weight),
    COALESCE(sum(w.weight) FILTER (WHERE w.sentiment = 'negative'), 0), :version, :now
FROM weighted w
GROUP BY w.scope, w.kind, w.window_end, w.window_start
ON CONFLICT (scope, window_end) DO UPDATE SET
    window_start = EXCLUDED.window_start, scope_kind = EXCLUDED.scope_kind,
    count = EXCLUDED.count, sources = EXCLUDED.sources, negative = EXCLUDED.negative,
    positive = EXCLUDED.positive, negative_share = EXCLUDED.negative_share,
    positive_share = EXCLUDED.positive_share, mean_score = EXCLUDED.mean_score,
    reprint_adjusted = EXCLUDED.reprint_adjusted, evidence = EXCLUDED.evidence,
    negative_evidence = EXCLUDED.negative_evidence, model_version = EXCLUDED.model_version,
    computed_at = EXCLUDED.computed_at
"""


@functools.lru_cache(maxsize=16)
def window_statement(kinds: tuple[str, ...], english_only: bool) -> TextClause:
    """Parameters: ends (list of window ends), lo, hi (the span), window_s, version, now."""
    parts = "\n    UNION ALL ".join(_PARTS[kind] for kind in kinds)
    english = "AND n.is_english" if english_only else ""
    return text(_TEMPLATE.format(parts=parts, english=english))
