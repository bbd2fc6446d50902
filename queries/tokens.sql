-- portkey.tokens (sum) and gen_ai.client.token.usage (histogram): input tokens (req_units) and
-- output tokens (res_units) of every request, by provider, model and token type.
-- Histogram buckets are (previous bound, bound]; the last bucket holds values above every bound.
-- The inner query groups the rows also by request_url cut at '?' or '#' (url_input), so the outer maps
-- each distinct URL once, not each row, to gen_ai.operation.name, server.address and server.port;
-- it merges the groups in three grouping sets: the GenAI metrics' rows (rollup = 'gen_ai') by those
-- too; the same also by error.type (rollup = 'gen_ai_by_error', for the token histograms of
-- gen_ai_latest_experimental, where error.type is conditionally required); portkey.tokens' (rollup =
-- 'portkey') by provider, model and token type alone. Every merge is exact (counts, integer sums,
-- min, max, bucket counts).
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
    `gen_ai.token.type`,
    `error.type`,
    url_operation                           AS `gen_ai.operation.name`,
    url_server_address                      AS `server.address`,
    url_server_port                         AS `server.port`,
    `portkey.metadata`,
    multiIf(grouping(`gen_ai.operation.name`) = 1, 'portkey', grouping(`error.type`) = 0, 'gen_ai_by_error', 'gen_ai') AS rollup,
    sum(token_sum)                          AS tokens,
    sum(n)                                  AS usage_count,
    sum(token_sum)                          AS usage_sum,
    min(token_min)                          AS usage_min,
    max(token_max)                          AS usage_max,
    sumForEach(buckets)                     AS usage_buckets
FROM (
    WITH {token_bounds:Array(Float64)} AS bounds
    SELECT
        toStartOfInterval(created_at, toIntervalSecond({step_seconds:UInt32}), 'UTC') AS bucket,
        -- the gateway's provider slug as the GenAI semantic conventions name it (docs/traces.md)
        transform(ai_org,
                  ['azure-openai', 'bedrock', 'vertex-ai', 'google', 'mistral-ai', 'x-ai', 'perplexity-ai'],
                  ['azure.ai.openai', 'aws.bedrock', 'gcp.vertex_ai', 'gcp.gemini', 'mistral_ai', 'x_ai', 'perplexity'],
                  ai_org)                   AS `gen_ai.provider.name`,
        ai_model                                AS `gen_ai.request.model`,
        token.1                                 AS `gen_ai.token.type`,
        if(response_status_code >= 400, toString(response_status_code), '') AS `error.type`,
        splitByChar('?', splitByChar('#', request_url)[1])[1] AS url_input,
        -- request metadata on the allow-list {metadata_keys} (metadata_attributes, docs/metadata.md):
        -- (key, value) pairs in list order, values cut to 256 characters, a key the row lacks left out;
        -- the key api_key_id reads the api_key_id column. Empty, adding nothing, when none are listed.
        arrayFilter(p -> p.2 != '',
                    arrayMap(k -> (k, substringUTF8(if(k = 'api_key_id', api_key_id, `metadata.value`[indexOf(`metadata.key`, k)]), 1, 256)),
                             {metadata_keys:Array(String)})) AS `portkey.metadata`,
        count()                                 AS n,
        sum(token.2)                            AS token_sum,
        min(token.2)                            AS token_min,
        max(token.2)                            AS token_max,
        sumForEach(arrayMap(i -> toUInt64(i = if(arrayFirstIndex(b -> toFloat64(token.2) <= b, bounds) = 0,
                                                 length(bounds) + 1,
                                                 arrayFirstIndex(b -> toFloat64(token.2) <= b, bounds))),
                            range(1, length(bounds) + 2))) AS buckets
    FROM generations
    ARRAY JOIN [('input', toUInt64(req_units)), ('output', toUInt64(res_units))] AS token
    WHERE created_at >= {window_start:DateTime64(3, 'UTC')}
      AND created_at <  {window_end:DateTime64(3, 'UTC')}
    GROUP BY bucket, `gen_ai.provider.name`, `gen_ai.request.model`, `gen_ai.token.type`, `error.type`, url_input,
             `portkey.metadata`)
GROUP BY GROUPING SETS (
    (bucket, `gen_ai.provider.name`, `gen_ai.request.model`, `gen_ai.token.type`, `gen_ai.operation.name`, `server.address`, `server.port`,
     `error.type`, `portkey.metadata`),
    (bucket, `gen_ai.provider.name`, `gen_ai.request.model`, `gen_ai.token.type`, `gen_ai.operation.name`, `server.address`, `server.port`,
     `portkey.metadata`),
    (bucket, `gen_ai.provider.name`, `gen_ai.request.model`, `gen_ai.token.type`, `portkey.metadata`))
ORDER BY bucket
