"""The Parquet archive both backends write (a folder of months, one file per table and month) and
the insight counters recomputed from scratch, in DuckDB's SQL, over it or over DuckDB's own tables."""

from __future__ import annotations

from pathlib import Path

import duckdb

from engine.decisions import counts_as_sql
from engine.store.counters import AI_METRICS, DAY_SECONDS, DECISION_METRICS, RUNS_PREFIX, decision_columns


def sql_text(text: str) -> str:
    """Text for a single-quoted SQL literal (file paths in COPY and read_parquet)."""
    return text.replace("'", "''")


def archive_files(folder: str, table: str) -> str:
    """Every archived month's file of one table, as one relation."""
    where = sql_text(str(Path(folder).resolve()))
    return f"read_parquet('{where}/*/{table}-*.parquet', union_by_name = true)"


def stats_query(runs: str = "runs", checkpoints: str = "checkpoints", steps: str = "steps") -> str:
    """The insight counters computed from scratch over these relations (rows as in stats_counters), in
    DuckDB's SQL: the DuckDB store recounts its tables with it, and either backend its Parquet archive."""
    kind = "json_extract_string(decision, '$.kind')"
    auto = "coalesce(json_type(decision, '$.auto_approved') = 'OBJECT', false)"
    edits = "coalesce(len(json_keys(decision, '$.edits')) > 0, false)"
    day = f"CAST(floor({{}} / {DAY_SECONDS!r}) AS INTEGER)"
    decisions = ", ".join(DECISION_METRICS)
    ai = ", ".join(AI_METRICS)
    return f"""
        SELECT workflow_id, '' AS node_id, 0 AS day, '{RUNS_PREFIX}' || status AS metric,
               CAST(count(*) AS DOUBLE) AS value
        FROM {runs} GROUP BY ALL
        UNION ALL
        SELECT workflow_id, node_id, day, metric, value FROM (
            UNPIVOT (
                SELECT workflow_id, node_id, {day.format("decided_at")} AS day, {decision_columns()}
                FROM (
                    SELECT workflow_id, node_id, created_at, decided_at, {kind} AS kind,
                        {edits} AS has_edits, {counts_as_sql(kind, "decided_by", auto)} AS counted
                    FROM {checkpoints} AS c0 WHERE status = 'decided'
                ) GROUP BY ALL
            ) ON {decisions} INTO NAME metric VALUE value)
        UNION ALL
        SELECT workflow_id, node_id, day, metric, value FROM (
            UNPIVOT (
                SELECT r.workflow_id, s.node_id, {day.format("s.finished_at")} AS day,
                    CAST(count(*) AS DOUBLE) AS ai_steps,
                    CAST(sum(coalesce(CAST(json_extract(s.meta, '$.prompt_tokens') AS BIGINT), 0))
                        AS DOUBLE) AS prompt_tokens,
                    CAST(sum(coalesce(CAST(json_extract(s.meta, '$.completion_tokens') AS BIGINT), 0))
                        AS DOUBLE) AS completion_tokens,
                    sum(coalesce(CAST(json_extract(s.meta, '$.cost_usd') AS DOUBLE), 0)) AS cost_usd,
                    CAST(count(*) FILTER (WHERE json_extract_string(s.meta, '$.cost_usd') IS NULL
                        AND json_extract(s.meta, '$.model') IS NOT NULL
                        AND coalesce(CAST(json_extract(s.meta, '$.demo') AS BOOLEAN), false) = false)
                        AS DOUBLE) AS unpriced_steps
                FROM {steps} s JOIN {runs} r ON r.id = s.run_id WHERE s.kind = 'ai_step' GROUP BY ALL
            ) ON {ai} INTO NAME metric VALUE value)
    """


def archive_stats(folder: str) -> dict[tuple[str, str, int, str], float]:
    """The insight counters of the archive under `folder`, computed from scratch from its Parquet
    files (whichever backend wrote them: DuckDB reads them in memory)."""
    if not list(Path(folder).glob("*/runs-*.parquet")):
        return {}
    query = stats_query(*(archive_files(folder, t) for t in ("runs", "checkpoints", "steps")))
    con = duckdb.connect()
    try:
        rows = con.execute(f"SELECT * FROM ({query}) WHERE value <> 0").fetchall()
    finally:
        con.close()
    return {(w, n, int(d), m): float(v) for w, n, d, m, v in rows}
