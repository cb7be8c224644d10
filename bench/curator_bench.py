"""Bespoke Curator (Python) on the simulator: the same prompts, parse and concurrency as our bench-text curator.

    bench/.venv-curator/bin/python bench/curator_bench.py --rows 20000 --concurrency 64 --base-url http://127.0.0.1:PORT/v1

The harness (bench/compare.ts) sets OPENAI_API_KEY=sk-sim, TELEMETRY_ENABLED=false, CURATOR_DISABLE_RICH_DISPLAY=1,
CURATOR_VIEWER/HOSTED_CURATOR_VIEWER off and a fresh CURATOR_CACHE_DIR. Prints one JSON line on stdout: the wall time
of the curation call alone (not the imports, not the construction with its rate-limit probe), requests per second,
and the rows it returned.

--backend anthropic drives Curator's Anthropic backend instead (ANTHROPIC_API_KEY set by the harness; --base-url is
then the API's root with /v1, to which Curator adds /messages).

--defaults leaves every backend parameter but the base URL at Curator's defaults (limits from its probe request's
headers, its own concurrency and retries). --max-seconds stops the curation after that long and prints
{"timedOut": true, ...} instead, so a contender far below the limit cannot hold a benchmark for hours.
"""

import argparse
import json
import os
import sys
import time

started = time.perf_counter()

parser = argparse.ArgumentParser()
parser.add_argument("--rows", type=int, default=20000)
parser.add_argument("--concurrency", type=int, default=64)
parser.add_argument("--base-url", required=True)
parser.add_argument("--model", default="gpt-4o-mini")
parser.add_argument("--backend", default="openai", choices=["openai", "anthropic"])
parser.add_argument("--defaults", action="store_true")
parser.add_argument("--max-seconds", type=float, default=0)
args = parser.parse_args()

from bespokelabs import curator  # noqa: E402
from datasets import Dataset  # noqa: E402

imported = time.perf_counter()


class BenchText(curator.LLM):
    """The bench-text curator of bench/curators.ts."""

    def prompt(self, input: dict) -> str:
        return f"Say something short about the number {input['id']}."

    def parse(self, input: dict, response: str) -> dict:
        return {"id": input["id"], "text": response}


backend_params = {"base_url": args.base_url}
if not args.defaults:
    backend_params.update(
        {
            # Far above anything the machine can do: the limiter never holds a request back.
            "max_requests_per_minute": 100_000_000,
            "max_tokens_per_minute": 100_000_000_000,
            "max_concurrent_requests": args.concurrency,
            "max_retries": 10,
        }
    )
llm = BenchText(model_name=args.model, backend=args.backend, backend_params=backend_params)
constructed = time.perf_counter()

dataset = Dataset.from_dict({"id": list(range(args.rows))})
t0 = time.perf_counter()

if args.max_seconds > 0:
    import threading

    def give_up():
        print(json.dumps({"timedOut": True, "rows": args.rows, "wallSeconds": time.perf_counter() - t0}))
        sys.stdout.flush()
        os._exit(0)

    watchdog = threading.Timer(args.max_seconds, give_up)
    watchdog.daemon = True
    watchdog.start()

result = llm(dataset)
wall = time.perf_counter() - t0

out = getattr(result, "dataset", result)
rows_out = len(out)
sample = out[0] if rows_out else None
print(
    json.dumps(
        {
            "curatorVersion": getattr(curator, "__version__", None),
            "rows": args.rows,
            "concurrency": args.concurrency,
            "outputRows": rows_out,
            "sample": sample,
            "wallSeconds": wall,
            "requestsPerSecond": args.rows / wall if wall > 0 else None,
            "importSeconds": imported - started,
            "constructSeconds": constructed - imported,
            "cacheDir": os.environ.get("CURATOR_CACHE_DIR"),
        }
    )
)
sys.stdout.flush()
