#!/usr/bin/env python3
"""Seeded generator of realistic AI-gateway rows for the `generations` table (SPEC.md, "The source").

Usage:
  gen_rows.py --clickhouse URL [--user U --password P] --database DB [--table generations]
              --start ISO8601 --end ISO8601 --seed N [--rate-per-minute 40] [--create] [--stdout]

Rows fall in [start, end). Traffic is Poisson per minute around --rate-per-minute with a sinusoidal day
cycle (peak ~15:00 UTC, trough ~03:00) and rare bursts. Every minute draws from its own RNG seeded by
(seed, minute), so output is deterministic for a seed and range, and overlapping ranges agree.
Providers/models with per-model prices (cost in cents), lognormal token counts, latency that grows with
output tokens, ~4 % errors (429/500/502/503/400/401), cache statuses (HIT rows are fast and free),
streaming, provider URLs, workspaces, virtual keys, users, routing modes, trace ids (some empty/non-hex).
Inserts with `INSERT INTO db.table FORMAT JSONEachRow` over the ClickHouse HTTP interface in batches
(stdlib only; works against real ClickHouse too). --create makes the database and table first.
--stdout prints JSONEachRow instead of inserting. Prints the number of rows (stdout; stderr with --stdout).
"""
import argparse
import json
import math
import random
import sys
import urllib.error
import urllib.parse
import urllib.request
import uuid
from datetime import datetime, timedelta, timezone

COLUMNS = """
    id UUID,
    created_at DateTime64(3, 'UTC'),
    organisation_id String,
    workspace_slug LowCardinality(String),
    trace_id String,
    span_id String,
    parent_span_id String,
    ai_org LowCardinality(String),
    ai_model LowCardinality(String),
    req_units UInt32,
    res_units UInt32,
    total_units UInt32,
    cost Float64,
    cost_currency LowCardinality(String),
    response_status_code UInt16,
    is_success UInt8,
    response_time UInt32,
    cache_status LowCardinality(String),
    stream_mode UInt8,
    request_url String,
    virtual_key String,
    _user String,
    mode String,
    api_key_id String,
    `metadata.key` Array(String),
    `metadata.value` Array(String)"""

# provider, model, weight, USD per 1M input tokens, per 1M output tokens, first-token ms, ms per output token
MODELS = [
    ("openai", "gpt-4o", 18, 2.50, 10.00, 450, 12.0),
    ("openai", "gpt-4o-mini", 26, 0.15, 0.60, 300, 6.0),
    ("openai", "text-embedding-3-small", 6, 0.02, 0.0, 120, 0.0),
    ("anthropic", "claude-sonnet-4", 14, 3.00, 15.00, 700, 14.0),
    ("anthropic", "claude-haiku", 10, 0.80, 4.00, 350, 6.5),
    ("google", "gemini-2.5-pro", 9, 1.25, 10.00, 900, 9.0),
    ("mistral", "mistral-large-latest", 5, 2.00, 6.00, 400, 11.0),
    ("mistral", "mistral-small-latest", 4, 0.20, 0.60, 250, 5.0),
]
WORKSPACES = [("org_7f3a9c21", "prod"), ("org_7f3a9c21", "staging"), ("org_7f3a9c21", "research"),
              ("org_b81d44e0", "default"), ("org_b81d44e0", "support-bot"), ("org_52c0e9aa", "analytics")]
WS_WEIGHTS = [40, 8, 6, 20, 18, 8]
MODES = ["single", "loadbalance", "fallback", "conditional"]
MODE_WEIGHTS = [70, 15, 10, 5]
ERRORS = [(429, 40), (500, 14), (502, 10), (503, 16), (400, 12), (401, 8)]
CACHE = [("DISABLED", 45), ("MISS", 38), ("HIT", 9), ("SEMANTIC HIT", 2), ("SEMANTIC MISS", 4), ("REFRESH", 2)]


# Every request-path shape the operation name and server.address are read from (upper case,
# default and explicit ports, trailing slashes, queries, fragments, userinfo, IPv6, no scheme, no
# URL at all); Tests/TestSupport/Expectations.swift has what each must give, written out by hand.
URL_SHAPES = {
    "chat": ["https://api.openai.com/v1/chat/completions", "HTTPS://API.OpenAI.com:443/V1/Chat/Completions/?stream=true#x",
             "https://api.openai.com/v1/responses", "https://api.openai.com/v1/completions",
             "https://bedrock-runtime.us-east-1.amazonaws.com/model/m/invoke"],
    "embedding": ["https://api.openai.com/v1/embeddings", "http://user:pw@gateway.internal:8787/v1/embeddings"],
    "anthropic": ["https://api.anthropic.com/v1/messages", "https://[2001:DB8::1]:8443/v1/messages", "api.anthropic.com/v1/messages",
                  "https://bedrock-runtime.us-east-1.amazonaws.com/model/m/converse"],
    "mistral": ["https://api.mistral.ai/v1/chat/completions", "not a url", "", "http://gw.internal:80/v1/chat/completions"],
}


def request_url(provider, model, stream, embedding, ts):
    """The row's URL: the provider's shapes in turn (by the millisecond, so the seeded rows stay the same)."""
    k = ts.second * 1000 + ts.microsecond // 1000
    if provider == "google":
        op = "streamGenerateContent?alt=sse" if stream else "generateContent"
        host = "generativelanguage.googleapis.com/v1beta" if k % 2 else "us-central1-aiplatform.googleapis.com/v1/projects/p/locations/l/publishers/google"
        return f"https://{host}/models/{model}:{op}"
    shapes = URL_SHAPES["embedding" if embedding else ("chat" if provider == "openai" else provider)]
    return shapes[k % len(shapes)]


def poisson(rng, lam):
    if lam <= 0:
        return 0
    if lam > 30:
        return max(0, int(round(rng.gauss(lam, math.sqrt(lam)))))
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def pick(rng, pairs):
    return rng.choices([p[0] for p in pairs], weights=[p[1] for p in pairs])[0]


def hexid(rng, n):
    return "%0*x" % (n, rng.getrandbits(4 * n))


def make_row(rng, ts):
    provider, model, _, pin, pout, ttft, per_tok = rng.choices(MODELS, weights=[m[2] for m in MODELS])[0]
    embedding = model.startswith("text-embedding")
    org, ws = rng.choices(WORKSPACES, weights=WS_WEIGHTS)[0]
    stream = 0 if embedding else int(rng.random() < 0.35)
    req = max(1, min(200_000, int(rng.lognormvariate(math.log(700), 1.0))))
    res = 0 if embedding else max(1, min(16_000, int(rng.lognormvariate(math.log(220), 0.9))))
    status, cache = 200, pick(rng, CACHE)
    if rng.random() < 0.04:
        status, cache = pick(rng, ERRORS), rng.choice(["DISABLED", "MISS"])
    if status != 200:
        res = 0
        latency = rng.randint(20, 250) if status in (400, 401, 429) else rng.randint(200, 30_000)
        cost = 0.0
    elif cache in ("HIT", "SEMANTIC HIT"):
        latency, cost = rng.randint(3, 40), 0.0
    else:
        latency = int((ttft + res * per_tok) * rng.lognormvariate(0, 0.35)) + rng.randint(5, 60)
        cost = round((req * pin + res * pout) / 1e6 * 100, 6)  # cents
    r = rng.random()
    trace_id = hexid(rng, 32) if r < 0.8 else ("" if r < 0.9 else "req_" + hexid(rng, 12) + "-zz")
    span_id = hexid(rng, 16) if trace_id else ""
    parent = hexid(rng, 16) if trace_id and rng.random() < 0.3 else ""
    return {
        "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "created_at": ts.strftime("%Y-%m-%d %H:%M:%S.") + "%03d" % (ts.microsecond // 1000),
        "organisation_id": org, "workspace_slug": ws,
        "trace_id": trace_id, "span_id": span_id, "parent_span_id": parent,
        "ai_org": provider, "ai_model": model,
        "req_units": req, "res_units": res, "total_units": req + res,
        "cost": cost, "cost_currency": "USD" if rng.random() < 0.97 else "EUR",
        "response_status_code": status, "is_success": int(200 <= status < 300),
        "response_time": max(1, latency), "cache_status": cache, "stream_mode": stream,
        "request_url": request_url(provider, model, stream, embedding, ts),
        "virtual_key": f"{provider}-{ws}-key{rng.randint(1, 2)}",
        "_user": "" if rng.random() < 0.2 else f"user_{rng.randint(1, 250):04d}",
        "mode": pick(rng, list(zip(MODES, MODE_WEIGHTS))),
        "api_key_id": f"ak_{org[4:]}_{1 + sum(map(ord, ws)) % 3}",
        **metadata(ws, embedding),
    }


# The request metadata of a workspace's traffic, derived without drawing from the RNG (so every
# other column stays what it was for a seed): the "default" workspace sends no team.
TEAMS = {"prod": "platform", "staging": "platform", "research": "research", "support-bot": "support", "analytics": "data"}


def metadata(ws, embedding):
    pairs = [("team", TEAMS.get(ws, "")), ("feature", "search" if embedding else "assistant"),
             ("environment", "staging" if ws == "staging" else "production")]
    pairs = [(k, v) for k, v in pairs if v]
    return {"metadata.key": [k for k, _ in pairs], "metadata.value": [v for _, v in pairs]}


def rows(start, end, seed, rate):
    minute = start.replace(second=0, microsecond=0)
    while minute < end:
        rng = random.Random(f"{seed}:{int(minute.timestamp())}")
        hour = minute.hour + minute.minute / 60
        lam = rate * (1 + 0.5 * math.sin(2 * math.pi * (hour - 9) / 24))
        if rng.random() < 0.004:  # burst
            lam *= rng.uniform(4, 8)
        stamps = sorted(minute + timedelta(milliseconds=rng.randrange(60_000)) for _ in range(poisson(rng, lam)))
        for ts in stamps:
            row = make_row(rng, ts)
            if start <= ts < end:
                yield row
        minute += timedelta(minutes=1)


def parse_time(s):
    t = datetime.fromisoformat(s.replace("Z", "+00:00"))
    return t.replace(tzinfo=timezone.utc) if t.tzinfo is None else t.astimezone(timezone.utc)


class CH:
    def __init__(self, url, user, password):
        self.url, self.headers = url.rstrip("/") + "/", {"X-ClickHouse-User": user, "X-ClickHouse-Key": password}

    def query(self, sql, body=b""):
        data = body if body else sql.encode()
        url = self.url + ("?" + urllib.parse.urlencode({"query": sql}) if body else "")
        req = urllib.request.Request(url, data=data, headers=self.headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=120) as r:
                return r.read()
        except urllib.error.HTTPError as e:
            sys.exit(f"gen_rows: ClickHouse {e.code}: {e.read().decode(errors='replace').strip()}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clickhouse", default="http://127.0.0.1:8123")
    ap.add_argument("--user", default="default")
    ap.add_argument("--password", default="")
    ap.add_argument("--database", default="default")
    ap.add_argument("--table", default="generations")
    ap.add_argument("--start", required=True)
    ap.add_argument("--end", required=True)
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--rate-per-minute", type=float, default=40)
    ap.add_argument("--batch", type=int, default=5000)
    ap.add_argument("--create", action="store_true")
    ap.add_argument("--stdout", action="store_true")
    a = ap.parse_args()
    start, end = parse_time(a.start), parse_time(a.end)
    target = f"`{a.database}`.`{a.table}`"
    gen = rows(start, end, a.seed, a.rate_per_minute)
    n = 0
    if a.stdout:
        for r in gen:
            sys.stdout.write(json.dumps(r, separators=(",", ":")) + "\n")
            n += 1
        print(n, file=sys.stderr)
        return
    ch = CH(a.clickhouse, a.user, a.password)
    if a.create:
        ch.query(f"CREATE DATABASE IF NOT EXISTS `{a.database}`")
        ch.query(f"CREATE TABLE IF NOT EXISTS {target} ({COLUMNS}\n) ENGINE = MergeTree ORDER BY created_at")
    batch = []
    for r in gen:
        batch.append(json.dumps(r, separators=(",", ":")))
        if len(batch) >= a.batch:
            ch.query(f"INSERT INTO {target} FORMAT JSONEachRow", ("\n".join(batch) + "\n").encode())
            n += len(batch)
            batch = []
    if batch:
        ch.query(f"INSERT INTO {target} FORMAT JSONEachRow", ("\n".join(batch) + "\n").encode())
        n += len(batch)
    print(n)


if __name__ == "__main__":
    main()
