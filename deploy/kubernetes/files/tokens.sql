-- portkey.tokens (sum) and gen_ai.client.token.usage (histogram): input tokens (req_units) and
-- output tokens (res_units) of every request, by provider, model and token type.
-- Histogram buckets are (previous bound, bound]; the last bucket holds values above every bound.
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
    -- request metadata on the allow-list {metadata_keys} (metadata_attributes, docs/metadata.md):
    -- (key, value) pairs in list order, values cut to 256 characters, a key the row lacks left out;
    -- the key api_key_id reads the api_key_id column. Empty, adding nothing, when none are listed.
    arrayFilter(p -> p.2 != '',
                arrayMap(k -> (k, substringUTF8(if(k = 'api_key_id', api_key_id, `metadata.value`[indexOf(`metadata.key`, k)]), 1, 256)),
                         {metadata_keys:Array(String)})) AS `portkey.metadata`,
    sum(token.2)                            AS tokens,
    count()                                 AS usage_count,
    sum(token.2)                            AS usage_sum,
    min(token.2)                            AS usage_min,
    max(token.2)                            AS usage_max,
    sumForEach(arrayMap(i -> toUInt64(i = if(arrayFirstIndex(b -> toFloat64(token.2) <= b, bounds) = 0,
                                             length(bounds) + 1,
                                             arrayFirstIndex(b -> toFloat64(token.2) <= b, bounds))),
                        range(1, length(bounds) + 2))) AS usage_buckets
FROM generations
ARRAY JOIN [('input', toUInt64(req_units)), ('output', toUInt64(res_units))] AS token
WHERE created_at >= {window_start:DateTime64(3, 'UTC')}
  AND created_at <  {window_end:DateTime64(3, 'UTC')}
GROUP BY bucket, `gen_ai.provider.name`, `gen_ai.request.model`, `gen_ai.token.type`,
         `portkey.metadata`
ORDER BY bucket
