-- portkey.cost: cost in USD (the table holds cents of cost_currency) by provider, model,
-- workspace and currency. sumKahan keeps the float sum independent of the summation order, and
-- the rounding makes a re-sent batch carry the very same value.
SELECT
    toStartOfInterval(created_at, toIntervalSecond({step_seconds:UInt32}), 'UTC') AS bucket,
    -- the gateway's provider slug as the GenAI semantic conventions name it (docs/traces.md)
    transform(ai_org,
              ['azure-openai', 'bedrock', 'vertex-ai', 'google', 'mistral-ai', 'x-ai', 'perplexity-ai'],
              ['azure.ai.openai', 'aws.bedrock', 'gcp.vertex_ai', 'gcp.gemini', 'mistral_ai', 'x_ai', 'perplexity'],
              ai_org)                   AS `gen_ai.provider.name`,
    ai_model                                AS `gen_ai.request.model`,
    workspace_slug                          AS `portkey.workspace`,
    cost_currency                           AS `portkey.currency`,
    -- request metadata on the allow-list {metadata_keys} (metadata_attributes, docs/metadata.md):
    -- (key, value) pairs in list order, values cut to 256 characters, a key the row lacks left out;
    -- the key api_key_id reads the api_key_id column. Empty, adding nothing, when none are listed.
    arrayFilter(p -> p.2 != '',
                arrayMap(k -> (k, substringUTF8(if(k = 'api_key_id', api_key_id, `metadata.value`[indexOf(`metadata.key`, k)]), 1, 256)),
                         {metadata_keys:Array(String)})) AS `portkey.metadata`,
    -- the most expensive request of the group, the point's exemplar (docs/traces.md): its time,
    -- the ids its span gets and its cost in USD; ties go to the later row
    argMax((created_at, trace_id, span_id, toString(id), cost / 100),
           (cost, created_at, id))          AS cost_exemplar,
    round(sumKahan(cost) / 100, 9)          AS cost_usd
FROM generations
WHERE created_at >= {window_start:DateTime64(3, 'UTC')}
  AND created_at <  {window_end:DateTime64(3, 'UTC')}
GROUP BY bucket, `gen_ai.provider.name`, `gen_ai.request.model`, `portkey.workspace`, `portkey.currency`,
         `portkey.metadata`
ORDER BY bucket
