-- gen_ai.client.operation.duration (histogram) and portkey.request.latency (summary): latency in
-- seconds (response_time is in ms) by provider, model and error.type (the status code as text for
-- status >= 400, else empty, which omits the attribute). Sums are taken in whole milliseconds so
-- they are exact. Quantiles use quantilesExact: the value at floor(q * n) of the sorted latencies;
-- their levels must match `quantiles` in config/bridge.yaml.
WITH {duration_bounds:Array(Float64)} AS bounds
SELECT
    toStartOfInterval(created_at, toIntervalSecond({step_seconds:UInt32}), 'UTC') AS bucket,
    -- the gateway's provider slug as the GenAI semantic conventions name it (docs/traces.md)
    transform(ai_org,
              ['azure-openai', 'bedrock', 'vertex-ai', 'google', 'mistral-ai', 'x-ai', 'perplexity-ai'],
              ['azure.ai.openai', 'aws.bedrock', 'gcp.vertex_ai', 'gcp.gemini', 'mistral_ai', 'x_ai', 'perplexity'],
              ai_org)                   AS `gen_ai.provider.name`,
    ai_model                                AS `gen_ai.request.model`,
    if(response_status_code >= 400, toString(response_status_code), '') AS `error.type`,
    count()                                 AS duration_count,
    sum(response_time) / 1000               AS duration_sum,
    min(response_time) / 1000               AS duration_min,
    max(response_time) / 1000               AS duration_max,
    sumForEach(arrayMap(i -> toUInt64(i = if(arrayFirstIndex(b -> response_time / 1000 <= b, bounds) = 0,
                                             length(bounds) + 1,
                                             arrayFirstIndex(b -> response_time / 1000 <= b, bounds))),
                        range(1, length(bounds) + 2))) AS duration_buckets,
    -- the slowest request of the group, the point's exemplar (docs/traces.md): its time, the ids
    -- its span gets and its latency in s; ties go to the later row
    argMax((created_at, trace_id, span_id, toString(id), response_time / 1000),
           (response_time, created_at, id)) AS duration_exemplar,
    quantilesExact(0.5, 0.9, 0.99)(response_time / 1000) AS latency_quantiles
FROM generations
WHERE created_at >= {window_start:DateTime64(3, 'UTC')}
  AND created_at <  {window_end:DateTime64(3, 'UTC')}
GROUP BY bucket, `gen_ai.provider.name`, `gen_ai.request.model`, `error.type`
ORDER BY bucket
