-- fault.rows: rows per bucket by provider (fault suite; see config/fault/fault.yaml).
-- The bridge fills {window_start}, {window_end} and {step_seconds}; nothing is spliced into this text.
SELECT
    toStartOfInterval(created_at, toIntervalSecond({step_seconds:UInt32}), 'UTC') AS bucket,
    ai_org                                  AS `gen_ai.provider.name`,
    count()                                 AS row_count
FROM generations
WHERE created_at >= {window_start:DateTime64(3, 'UTC')}
  AND created_at <  {window_end:DateTime64(3, 'UTC')}
GROUP BY bucket, `gen_ai.provider.name`
ORDER BY bucket
