"""Load test of `srllm serve`: dynamic batching vs the naive peer (the same app, max batch 1).

Starts the server on the default model (smollm2-135m-instruct, adapter="auto") as a real process on
127.0.0.1, twice: once batching (max batch 16), once naive (max batch 1). A bounded httpx async
load generator sends a fixed number of one-text /v1/rewrite requests at 1, 4 and 16 concurrent
clients. Writes benchmarks/results/serve_load.json: requests/s, p50/p95/p99 latency, errors and the
server's peak RSS per level, and whether the goals hold:
  - batching at 16 clients gives >= 4x the naive peer's requests/s;
  - its p95 latency at 16 clients is <= 2x a single request's latency (p50 at 1 client);
  - zero errors.

    .venv/bin/python benchmarks/serve_load.py                     # ~5 minutes on 2 cores
    .venv/bin/python benchmarks/serve_load.py --requests 32 --max-new-tokens 32
    .venv/bin/python benchmarks/serve_load.py --soak-minutes 10   # the long run: RSS growth under load

--soak-minutes N drives the batched server with 16 clients for N minutes (after the levels),
samples the server's resident memory every 5 s, and reports its growth from the end of the first
minute (warm: model, caches and allocator pools in place) to the end; goal < 5 %.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"

# Short workplace sentences of the kind srllm rewrites (written for this benchmark).
TEXTS = [
    "Old people can't learn our new software, so skip them in the training.",
    "Women are too emotional to lead the sales team.",
    "That idiot from accounting broke the printer again.",
    "Immigrants are taking all the good jobs in this town.",
    "Only young guys can keep up with the pace of this startup.",
    "He's disabled, so don't bother giving him the new project.",
    "Shut up, nobody cares about your stupid opinion.",
    "People from that neighbourhood are all criminals.",
    "Girls are bad at math, let the boys do the budget.",
    "Fat people are lazy, don't hire them for the warehouse.",
    "Anyone with an accent sounds unprofessional on the phone.",
    "Mothers always leave early, give the promotion to a man.",
    "He is too old to understand social media marketing.",
    "Those religious people can't be trusted with money.",
    "Your idea is garbage, just like everything you do.",
    "Millennials are entitled and never work hard.",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(args: argparse.Namespace, max_batch: int, workdir: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    command = [sys.executable, "-m", "srllm.cli.serve", "serve", "--host", "127.0.0.1", "--port", str(port),
               "--model", args.model, "--max-new-tokens", str(args.max_new_tokens), "--dtype", args.dtype,
               "--max-batch-size", str(max_batch), "--max-wait-ms", str(args.max_wait_ms),
               "--rate-limit", "0", "--jobs-db", str(workdir / f"jobs-{max_batch}.sqlite"),
               "--scorers", "profanity", "--no-preload-scorers", "--log-level", "info"]
    if not args.guard:
        command.append("--no-guard")
    if args.threads:
        command += ["--threads", str(args.threads)]
    if args.adapter != "auto":
        command += ["--no-adapter"] if args.adapter == "none" else ["--adapter", args.adapter]
    env = {**os.environ, "SRLLM_CACHE": os.environ.get("SRLLM_CACHE", str(Path.home() / ".cache" / "srllm")),
           "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    log = open(workdir / f"server-{max_batch}.log", "wb")  # noqa: SIM115 - lives as long as the server
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited: {(workdir / f'server-{max_batch}.log').read_text()[-2000:]}")
        try:
            if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                return process, url
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    process.kill()
    raise RuntimeError("the server did not become ready")


def rss_mb(pid: int, field: str = "VmRSS:") -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


async def soak(url: str, pid: int, minutes: float, clients: int = 16) -> dict[str, Any]:
    """Constant load for `minutes`; resident memory sampled every 5 s."""
    samples: list[tuple[float, float]] = []
    stop = time.perf_counter() + 60 * minutes
    done = {"ok": 0, "errors": 0}

    async def worker(client: httpx.AsyncClient, index: int) -> None:
        while time.perf_counter() < stop:
            try:
                response = await client.post("/v1/rewrite", json={"texts": [TEXTS[index % len(TEXTS)]]})
                done["ok" if response.status_code == 200 else "errors"] += 1
            except httpx.HTTPError:
                done["errors"] += 1
            index += clients

    async def sampler() -> None:
        started = time.perf_counter()
        while time.perf_counter() < stop:
            value = rss_mb(pid)
            if value is not None:
                samples.append((time.perf_counter() - started, value))
            await asyncio.sleep(5)

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=600, limits=limits) as client:
        await asyncio.gather(sampler(), *(worker(client, i) for i in range(clients)))
    warm = next((mb for t, mb in samples if t >= 60), samples[0][1] if samples else None)
    end = samples[-1][1] if samples else None
    growth = (end - warm) / warm * 100 if warm and end else None
    return {"minutes": minutes, "clients": clients, "requests_ok": done["ok"], "errors": done["errors"],
            "rss_warm_mb": warm, "rss_end_mb": end, "rss_max_mb": max((mb for _, mb in samples), default=None),
            "rss_growth_pct": round(growth, 2) if growth is not None else None, "goal_pct": 5.0,
            "met": bool(growth is not None and growth < 5.0 and done["errors"] == 0),
            "samples": [(round(t, 1), round(mb, 1)) for t, mb in samples]}


def peak_rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


async def drive(url: str, clients: int, total: int) -> dict[str, Any]:
    """`clients` workers send one-text rewrites until `total` requests are done."""
    latencies: list[float] = []
    errors: list[str] = []
    counter = iter(range(total))

    async def worker(client: httpx.AsyncClient) -> None:
        for index in counter:
            text = TEXTS[index % len(TEXTS)]
            started = time.perf_counter()
            try:
                response = await client.post("/v1/rewrite", json={"texts": [text]})
                if response.status_code != 200:
                    errors.append(f"HTTP {response.status_code}")
                    continue
            except httpx.HTTPError as exc:
                errors.append(type(exc).__name__)
                continue
            latencies.append(time.perf_counter() - started)

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=600, limits=limits) as client:
        started = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(clients)))
        elapsed = time.perf_counter() - started
    return {"clients": clients, "requests": total, "ok": len(latencies), "errors": len(errors),
            "error_kinds": sorted(set(errors)), "seconds": round(elapsed, 3),
            "requests_per_s": round(len(latencies) / elapsed, 3) if elapsed else None,
            **percentiles(latencies)}


def percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50_s": None, "p95_s": None, "p99_s": None, "mean_s": None}
    cuts = statistics.quantiles(values, n=100, method="inclusive") if len(values) > 1 else [values[0]] * 99
    return {"p50_s": round(cuts[49], 4), "p95_s": round(cuts[94], 4), "p99_s": round(cuts[98], 4),
            "mean_s": round(statistics.fmean(values), 4)}


def batches(url: str) -> dict[str, float]:
    text = httpx.get(url + "/metrics").text
    found: dict[str, float] = {}
    for line in text.splitlines():
        for name in ("srllm_batches_total", "srllm_batch_size_texts_sum"):
            if line.startswith(name + " "):
                found[name] = float(line.split()[1])
    return found


def run_mode(args: argparse.Namespace, name: str, max_batch: int, workdir: Path) -> dict[str, Any]:
    process, url = start_server(args, max_batch, workdir)
    try:
        served = httpx.get(url + "/v1/models").json()["data"][0]  # the adapter actually in use
        asyncio.run(drive(url, 1, 2))  # warm-up: first-call costs are not part of any level
        levels = []
        for clients in args.clients:
            before = batches(url)
            level = asyncio.run(drive(url, clients, args.requests))
            after = batches(url)
            calls = after.get("srllm_batches_total", 0) - before.get("srllm_batches_total", 0)
            texts = after.get("srllm_batch_size_texts_sum", 0) - before.get("srllm_batch_size_texts_sum", 0)
            level["generation_calls"] = int(calls)
            level["mean_batch_texts"] = round(texts / calls, 2) if calls else None
            levels.append(level)
            print(f"{name:8s} clients={clients:3d} rps={level['requests_per_s']} p50={level['p50_s']} "
                  f"p95={level['p95_s']} errors={level['errors']} mean_batch={level['mean_batch_texts']}",
                  flush=True)
        result = {"mode": name, "max_batch_size": max_batch, "served": served, "levels": levels,
                  "peak_rss_mb": peak_rss_mb(process.pid)}
        if name == "batched" and args.soak_minutes:
            result["soak"] = asyncio.run(soak(url, process.pid, args.soak_minutes))
            print(f"soak: {json.dumps({k: v for k, v in result['soak'].items() if k != 'samples'})}", flush=True)
        return result
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()


def goals(batched: dict[str, Any], naive: dict[str, Any]) -> dict[str, Any]:
    by = {m["mode"]: {lvl["clients"]: lvl for lvl in m["levels"]} for m in (batched, naive)}
    top = max(by["batched"])
    single = by["batched"].get(1, {}).get("p50_s")
    speedup = (by["batched"][top]["requests_per_s"] / by["naive"][top]["requests_per_s"]
               if by["naive"][top]["requests_per_s"] else None)
    p95_ratio = by["batched"][top]["p95_s"] / single if single else None
    errors = sum(lvl["errors"] for m in (batched, naive) for lvl in m["levels"])
    return {
        "clients": top, "single_request_latency_s": single,
        "speedup_vs_naive": round(speedup, 2) if speedup else None, "speedup_goal": 4.0,
        "speedup_met": bool(speedup and speedup >= 4.0),
        "p95_over_single": round(p95_ratio, 2) if p95_ratio else None, "p95_goal": 2.0,
        "p95_met": bool(p95_ratio and p95_ratio <= 2.0),
        "errors": errors, "errors_met": errors == 0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--adapter", default="auto", help='"auto" (shipped adapter), "none", or a PEFT dir')
    parser.add_argument("--requests", type=int, default=64,
                        help="requests per concurrency level (64: four rounds of 16 clients, so the p95 "
                             "at 16 is not just the ramp-up)")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--max-new-tokens", type=int, default=24)
    parser.add_argument("--max-batch-size", type=int, default=16)
    parser.add_argument("--dtype", default="auto", help="server inference dtype (auto: bf16 where native)")
    parser.add_argument("--max-wait-ms", type=float, default=20.0)
    parser.add_argument("--threads", type=int, default=None, help="torch threads in the server (default: torch's)")
    parser.add_argument("--guard", action="store_true",
                        help="serve with the guard (extra scoring per text); off by default to time batching alone")
    parser.add_argument("--soak-minutes", type=float, default=0,
                        help="after the levels, 16 clients for this long; report RSS growth (goal < 5 %%)")
    parser.add_argument("--soak-only", action="store_true",
                        help="only the soak (no levels, no naive peer); writes serve_soak.json")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if args.soak_only:
        args.soak_minutes = args.soak_minutes or 10
        args.clients = []
    args.out = args.out or RESULTS / ("serve_soak.json" if args.soak_only else "serve_load.json")
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="srllm-serve-load-") as tmp:
        batched = run_mode(args, "batched", args.max_batch_size, Path(tmp))
        naive = None if args.soak_only else run_mode(args, "naive", 1, Path(tmp))
    if naive is None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"benchmark": "serve_soak", "model": args.model, "adapter": args.adapter,
                                        "max_new_tokens": args.max_new_tokens, "guard": args.guard,
                                        "soak": batched["soak"]}, indent=2) + "\n")
        print(f"wrote {args.out}")
        return
    result = {
        "benchmark": "serve_load", "model": args.model, "adapter": args.adapter,
        "max_new_tokens": args.max_new_tokens, "max_wait_ms": args.max_wait_ms, "guard": args.guard,
        "threads": args.threads, "dtype": args.dtype,
        "requests_per_level": args.requests,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    "loadavg_before": [round(x, 2) for x in load_before],
                    "loadavg_after": [round(x, 2) for x in os.getloadavg()]},
        "runs": [batched, naive],
        "goals": goals(batched, naive),
    }
    if "soak" in batched:
        result["goals"]["soak_rss_growth_pct"] = batched["soak"]["rss_growth_pct"]
        result["goals"]["soak_met"] = batched["soak"]["met"]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["goals"], indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
