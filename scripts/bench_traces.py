#!/usr/bin/env python3
"""Spans per second and peak memory of the GenAI traces pipeline, through the whole path.

Usage: scripts/bench_traces.py [--rows 1000000] [--binary .build/release/otel-bridge] [--protocol http/protobuf]

Against the local stack (`bash scripts/stack.sh up`; reads .stack/env): seeds N gateway rows into a
fresh ClickHouse database (INSERT … SELECT FROM numbers(N): ids, trace ids of every shape, 8 providers,
one row per 10 ms), makes a fresh Postgres database for the checkpoints, and runs
`otel-bridge run --pipeline gen_ai_traces` once over the whole backlog: ClickHouse query pages,
row → span mapping, encoding, OTLP/HTTP export, a Postgres commit per acknowledged batch. The OTLP
endpoint is an acknowledge-only server in this script (200 + empty ExportTraceServiceResponse), so
the figure is the bridge's, not the test receiver's Python decoding. Prints rows, spans, seconds,
spans/s and the bridge process's peak RSS (getrusage of the child). Never run by the tests.
"""
import argparse
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "scripts" / "services"))
import gen_rows  # noqa: E402  (the table's columns)
from bench_common import Ack, ack_server, ch, find_binary, stack_env  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--binary", default=None)
    ap.add_argument("--protocol", default="http/protobuf")
    ap.add_argument("--page-size", default="25000")  # the default of EXPERIMENTAL_GEN_AI_OTEL_TRACES_PAGE_SIZE
    a = ap.parse_args()
    binary = find_binary(a.binary)
    if not binary:
        sys.exit("bench_traces: build otel-bridge first (swift build -c release)")
    env = stack_env()
    chu, pgu = env["TEST_CLICKHOUSE_URL"], env["TEST_POSTGRES_URL"]
    db = f"bench_traces_{os.getpid()}"
    ch(chu, f"CREATE DATABASE {db}")
    ch(chu, f"CREATE TABLE {db}.generations ({gen_rows.COLUMNS}) ENGINE = MergeTree ORDER BY created_at")
    t0 = time.time()
    ch(chu, f"""
        INSERT INTO {db}.generations
        SELECT generateUUIDv4(), toDateTime64('2026-01-01 00:00:00', 3, 'UTC') + toIntervalMillisecond(number * 10),
               'org', ['prod', 'staging', 'research'][number % 3 + 1],
               multiIf(number % 10 < 8, lower(hex(randomString(16))), number % 10 = 8, '', 'req_' || toString(number % 1000)),
               lower(hex(randomString(8))), if(number % 3 = 0, lower(hex(randomString(8))), ''),
               ['openai', 'anthropic', 'google', 'azure-openai', 'bedrock', 'mistral-ai', 'groq', 'x-ai'][number % 8 + 1],
               ['gpt-4o', 'claude-sonnet-4', 'gemini-2.5-pro', 'gpt-4o-mini', 'claude-haiku', 'mistral-large', 'llama-3', 'grok-3'][number % 8 + 1],
               number % 2000, number % 700, number % 2700, (number % 1000) / 7.0, 'USD',
               if(number % 25 = 0, 429, 200), 1, number % 30000 + 20, ['MISS', 'HIT', 'DISABLED'][number % 3 + 1], number % 2,
               ['https://api.openai.com/v1/chat/completions', 'https://api.anthropic.com/v1/messages',
                'https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-pro:generateContent',
                'https://r.openai.azure.com/openai/deployments/gpt4/chat/completions?api-version=2024-06-01',
                'https://bedrock-runtime.us-east-1.amazonaws.com/model/m/invoke', 'https://api.mistral.ai/v1/chat/completions',
                'https://api.groq.com/openai/v1/chat/completions', 'https://api.x.ai/v1/chat/completions'][number % 8 + 1],
               'vk-' || toString(number % 50), '', 'single', '', [], []
        FROM numbers({a.rows})""")
    print(f"seeded {a.rows} rows in {time.time() - t0:.1f} s", file=sys.stderr)
    pgdb = db
    subprocess.run(["psql", pgu, "-qc", f'CREATE DATABASE "{pgdb}"'], check=True)
    pg_db_url = pgu.rsplit("/", 1)[0] + "/" + pgdb  # postgresql://user:pw@host:port/<db>
    server, ack_url = ack_server()
    run_env = dict(os.environ)
    run_env.update({
        "CLICKHOUSE_URL": chu, "CLICKHOUSE_DATABASE": db, "CHECKPOINT_DATABASE_URL": pg_db_url,
        "OTEL_PUSH_ENABLED": "false", "BRIDGE_START_AT": "2026-01-01T00:00:00Z", "BRIDGE_CONFIG": str(ROOT / "config/bridge.yaml"),
        "EXPERIMENTAL_GEN_AI_OTEL_TRACES_ENABLED": "true",
        "EXPERIMENTAL_GEN_AI_OTEL_EXPORTER_OTLP_ENDPOINT": ack_url,
        "EXPERIMENTAL_GEN_AI_OTEL_EXPORTER_OTLP_PROTOCOL": a.protocol,
        "EXPERIMENTAL_GEN_AI_OTEL_TRACES_PAGE_SIZE": a.page_size, "LOG_LEVEL": "warning",
    })
    t0 = time.time()
    p = subprocess.run([binary, "run", "--pipeline", "gen_ai_traces"], env=run_env, capture_output=True, text=True)
    elapsed = time.time() - t0
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    peak_kib = usage.ru_maxrss  # psql is small; the bridge is the largest child
    cpu = usage.ru_utime + usage.ru_stime  # the bridge's, and psql's few milliseconds
    server.shutdown()
    try:
        ch(chu, f"DROP DATABASE {db}")
        subprocess.run(["psql", pgu, "-qc", f'DROP DATABASE "{pgdb}" WITH (FORCE)'], check=False)
    except Exception:
        pass
    if p.returncode != 0:
        sys.exit(f"bench_traces: otel-bridge exited {p.returncode}: {p.stderr[-2000:]}")
    print(f"binary: {binary}")
    print(f"rows: {a.rows}  requests: {Ack.requests}  bytes sent: {Ack.bytes}  protocol: {a.protocol}")
    print(f"elapsed: {elapsed:.1f} s  spans/s: {a.rows / elapsed:,.0f}  peak RSS: {peak_kib / 1024:.1f} MiB  "
          f"bridge CPU: {cpu:.1f} s ({a.rows / max(cpu, 0.001):,.0f} spans per CPU-second)")


if __name__ == "__main__":
    main()
