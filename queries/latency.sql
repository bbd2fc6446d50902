-- gen_ai.client.operation.duration (histogram) and portkey.request.latency (summary): latency in
-- seconds (response_time is in ms) by provider, model and error.type (the status code as text for
-- status >= 400, else empty, which omits the attribute). Sums are taken in whole milliseconds so
-- they are exact. Quantiles use quantilesExact: the value at floor(q * n) of the sorted latencies;
-- their levels must match `quantiles` in config/bridge.yaml.
-- The inner query groups the rows also by request_url cut at '?' or '#' (url_input), so the outer maps
-- each distinct URL once, not each row, to gen_ai.operation.name, server.address and server.port;
-- it merges the groups in two grouping sets: the GenAI histogram's rows (rollup = 'gen_ai') by
-- those too, the summary's (rollup = 'portkey') by provider, model and error.type alone. Every
-- merge is exact (counts, integer sums, min, max, bucket counts, quantilesExact's states).
WITH
    -- request_url mapping: begin (gen_ai.operation.name, server.address, server.port from request_url: the
    -- one definition of Sources/GenAITraces/RequestURL.swift and OperationName.swift, which the spans use;
    -- the same lines in latency.sql and tokens.sql, run against the Swift by RequestURLSQLTests)
    splitByChar('?', splitByChar('#', url_input)[1])[1]                                        AS url_text,
    position(url_text, '://')                                                                   AS url_sep,
    substring(url_text, 1, url_sep - 1)                                                         AS url_scheme,
    substring(url_text, url_sep + 3)                                                            AS url_rest,
    position(url_rest, '/')                                                                     AS url_slash,
    splitByChar('@', if(url_slash = 0, url_rest, substring(url_rest, 1, url_slash - 1)))[-1]    AS url_authority,
    startsWith(url_authority, '[')                                                              AS url_bracket,
    position(url_authority, ']')                                                                AS url_close,
    position(reverse(url_authority), ':')                                                       AS url_colon,
    multiIf(url_bracket, substring(url_authority, 2, url_close - 2),
            url_colon > 0, substring(url_authority, 1, length(url_authority) - url_colon),
            url_authority)                                                                      AS url_host,
    multiIf(url_bracket, if(substring(url_authority, url_close + 1, 1) = ':', substring(url_authority, url_close + 2), ''),
            url_colon > 0, substring(url_authority, length(url_authority) - url_colon + 2),
            '')                                                                                 AS url_port_text,
    url_sep > 1 AND match(url_scheme, '^[0-9A-Za-z+.-]+$') AND NOT (url_bracket AND url_close = 0)
        AND url_host != '' AND NOT match(url_host, '[\\x00-\\x20]')                            AS url_host_ok,
    if(url_host_ok AND length(url_port_text) BETWEEN 1 AND 5 AND match(url_port_text, '^[0-9]+$'),
       toUInt32OrZero(url_port_text), 0)                                                        AS url_port,
    if(url_host_ok, lower(url_host), '')                                                        AS url_server_address,
    if(url_port BETWEEN 1 AND 65535 AND NOT (lower(url_scheme) = 'https' AND url_port = 443)
           AND NOT (lower(url_scheme) = 'http' AND url_port = 80),
       toUInt16(url_port), NULL)                                                                AS url_server_port,
    arrayFilter(s -> s != '', splitByChar('/', lower(multiIf(url_sep = 0, url_text, url_host_ok,
        if(url_slash = 0, '', substring(url_rest, url_slash)), ''))))                           AS url_segments,
    multiIf(position(url_segments[-1], ':') > 0,
              transform(splitByChar(':', url_segments[-1])[-1],
                        ['generatecontent', 'streamgeneratecontent', 'embedcontent', 'batchembedcontents', 'rawpredict', 'streamrawpredict'],
                        ['generate_content', 'generate_content', 'embeddings', 'embeddings', 'chat', 'chat'], 'generate_content'),
            url_segments[-1] = 'completions', if(url_segments[-2] = 'chat', 'chat', 'text_completion'),
            transform(url_segments[-1], ['embeddings', 'messages', 'responses', 'converse', 'converse-stream'],
                      ['embeddings', 'chat', 'chat', 'chat', 'chat'], 'generate_content'))           AS url_operation,
    -- request_url mapping: end
    0 AS url_done
SELECT
    bucket,
    `gen_ai.provider.name`,
    `gen_ai.request.model`,
    `error.type`,
    url_operation                           AS `gen_ai.operation.name`,
    url_server_address                      AS `server.address`,
    url_server_port                         AS `server.port`,
    if(grouping(`gen_ai.operation.name`) = 0, 'gen_ai', 'portkey') AS rollup,
    sum(n)                                  AS duration_count,
    sum(ms) / 1000                          AS duration_sum,
    min(min_ms) / 1000                      AS duration_min,
    max(max_ms) / 1000                      AS duration_max,
    sumForEach(buckets)                     AS duration_buckets,
    -- the slowest request of the group, the point's exemplar (docs/traces.md): its time, the ids
    -- its span gets and its latency in s; ties go to the later row
    argMaxMerge(slowest)                    AS duration_exemplar,
    quantilesExactMerge(0.5, 0.9, 0.99)(quantiles) AS latency_quantiles
FROM (
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
        splitByChar('?', splitByChar('#', request_url)[1])[1] AS url_input,
        count()                                 AS n,
        sum(response_time)                      AS ms,
        min(response_time)                      AS min_ms,
        max(response_time)                      AS max_ms,
        sumForEach(arrayMap(i -> toUInt64(i = if(arrayFirstIndex(b -> response_time / 1000 <= b, bounds) = 0,
                                                 length(bounds) + 1,
                                                 arrayFirstIndex(b -> response_time / 1000 <= b, bounds))),
                            range(1, length(bounds) + 2))) AS buckets,
        argMaxState((created_at, trace_id, span_id, toString(id), response_time / 1000),
                    (response_time, created_at, id)) AS slowest,
        quantilesExactState(0.5, 0.9, 0.99)(response_time / 1000) AS quantiles
    FROM generations
    WHERE created_at >= {window_start:DateTime64(3, 'UTC')}
      AND created_at <  {window_end:DateTime64(3, 'UTC')}
    GROUP BY bucket, `gen_ai.provider.name`, `gen_ai.request.model`, `error.type`, url_input)
GROUP BY GROUPING SETS (
    (bucket, `gen_ai.provider.name`, `gen_ai.request.model`, `error.type`, `gen_ai.operation.name`, `server.address`, `server.port`),
    (bucket, `gen_ai.provider.name`, `gen_ai.request.model`, `error.type`))
ORDER BY bucket
