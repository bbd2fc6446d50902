-- gen_ai_traces: one page of gateway requests for the GenAI spans (docs/traces.md), in the
-- pipeline's total order (created_at, id): the rows after the keyset {after_time, after_id}
-- and before {until} (now - lag), at most {page_size} of them. The bridge fills every
-- parameter; nothing is spliced into this text. The span is made from these columns in
-- Sources/GenAITraces/SpanMapping.swift (the provider mapping included), so this query
-- returns them as they are.
SELECT
    id, created_at, trace_id, span_id, parent_span_id, ai_org, ai_model, req_units, res_units,
    cost, cost_currency, response_status_code, response_time, cache_status, stream_mode,
    request_url, workspace_slug, virtual_key,
    -- request metadata on the allow-list {metadata_keys} (metadata_attributes, docs/metadata.md):
    -- (key, value) pairs in list order, values cut to 256 characters, a key the row lacks left out;
    -- the key api_key_id reads the api_key_id column. Empty, adding nothing, when none are listed.
    arrayFilter(p -> p.2 != '',
                arrayMap(k -> (k, substringUTF8(if(k = 'api_key_id', api_key_id, `metadata.value`[indexOf(`metadata.key`, k)]), 1, 256)),
                         {metadata_keys:Array(String)})) AS `portkey.metadata`
FROM generations
WHERE created_at >= {after_time:DateTime64(3, 'UTC')}
  AND created_at <  {until:DateTime64(3, 'UTC')}
  AND (created_at, id) > ({after_time:DateTime64(3, 'UTC')}, {after_id:UUID})
ORDER BY created_at, id
LIMIT {page_size:UInt32}
