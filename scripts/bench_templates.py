#!/usr/bin/env python3
"""Times the shipped rollup templates on in-process chDB over synthetic gateway rows.

    .venv/bin/python scripts/bench_templates.py [--rows 2000000] [--repeat 3] [--against REV]

For each pipeline of config/bridge.yaml: its query template run over one hour holding --rows rows
(one query, 60 buckets of 60 s), with the window, the step and the pipeline's `parameters:` sent as
query parameters as the bridge sends them. Prints the best wall time of --repeat runs and rows/s.
--against REV also times the templates as they were at git revision REV (`git show REV:queries/…`),
to see what a template change costs. No services needed; the figures are chDB's on this machine,
not a ClickHouse server's.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import yaml
from chdb import session

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts" / "services"))
from gen_rows import COLUMNS, URL_SHAPES  # noqa: E402  (the generator's schema and request URLs)

URLS = [u for shapes in URL_SHAPES.values() for u in shapes] + [
    "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-pro:generateContent"]


def seed(s, rows: int) -> None:
    s.query(f"CREATE TABLE generations ({COLUMNS}) ENGINE = MergeTree ORDER BY created_at")
    urls = "[" + ", ".join("'" + u.replace("'", "\\'") + "'" for u in URLS) + "]"
    s.query(f"""
        INSERT INTO generations (created_at, workspace_slug, ai_org, ai_model, req_units, res_units, cost, cost_currency,
                                 response_status_code, response_time, cache_status, request_url)
        SELECT toDateTime64('2026-01-01 00:00:00', 3, 'UTC') + toIntervalMillisecond(intDiv(number * 3600000, {rows})),
               ['prod', 'staging', 'research'][number % 3 + 1], ['openai', 'anthropic', 'google', 'mistral-ai'][number % 4 + 1],
               concat('model-', toString(number % 7)), number % 5000, number % 900, (number % 1000) / 7, 'USD',
               if(number % 50 = 0, 429, 200), number % 30000, ['MISS', 'HIT', 'DISABLED'][number % 3 + 1],
               {urls}[number % {len(URLS)} + 1]
        FROM numbers({rows})""")


def param_text(value) -> str:
    return json.dumps(value) if isinstance(value, list) else str(value)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--against", help="a git revision whose templates are timed too")
    args = ap.parse_args()
    s = session.Session()
    seed(s, args.rows)
    config = yaml.safe_load((ROOT / "config" / "bridge.yaml").read_text())
    window = {"window_start": "2026-01-01 00:00:00.000", "window_end": "2026-01-01 01:00:00.000", "step_seconds": "60"}
    for p in config["pipelines"]:
        path = (ROOT / "config" / p["query"]).resolve().relative_to(ROOT)
        params = {**window, **{k: param_text(v) for k, v in (p.get("parameters") or {}).items()}}
        versions = [("now", (ROOT / path).read_text())]
        if args.against:
            versions.append((args.against, subprocess.run(["git", "-C", str(ROOT), "show", f"{args.against}:{path}"],
                                                          check=True, capture_output=True, text=True).stdout))
        for label, sql in versions:
            best = float("inf")
            for _ in range(args.repeat):
                t = time.perf_counter()
                s.query(sql + "\nFORMAT Null", params=params)
                best = min(best, time.perf_counter() - t)
            print(f"{p['name']:10} {str(path):22} {label:>10}: {best * 1000:8.0f} ms best of {args.repeat}, "
                  f"{args.rows / best / 1e6:6.2f} M rows/s ({args.rows} rows, 60 buckets)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
