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
minute (warm: model, caches and allocator pools in place) to the end; goal < 5 %. The server then
requires an API key, and each soak request is drawn (seeded, --soak-mix, default 70/15/15) from:
  - valid: a one-text /v1/rewrite with the key; an error unless it gets 200;
  - invalid: with the key, but malformed JSON, wrong field types, or a body over the server's limit;
    an error if it gets anything but a 4xx (a 5xx is a crash, a 2xx let bad input through);
  - unauthenticated: a valid body with no key or a wrong key; an error unless 401 (or 429).
A request that gets no answer at all (connection error, timeout) is an error in every class. Per
class: requests, status codes seen, errors and their kinds. The soak also writes a Markdown
summary beside the JSON (serve_soak.md for --soak-only).

    .venv/bin/python benchmarks/serve_load.py --soak-only --soak-minutes 30   # the issue-15 soak
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
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


SOAK_CLASSES = ("valid", "invalid", "unauthenticated")
BODY_LIMIT = 1_000_000  # the server's --max-body-bytes (its default), so an oversize body is known to be one
# A well-formed key of no one: the server checks it like a real one (argon2 against a dummy hash).
WRONG_KEY = "srk_000000000000_" + "x" * 43


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def create_key(workdir: Path) -> tuple[Path, str]:
    """A keys file with one key (what `srllm keys create` makes), and the key."""
    from srllm.serve.keys import KeyStore

    keys_file = workdir / "keys.sqlite"
    token, _ = KeyStore(keys_file).create("serve_load soak")
    return keys_file, token


def start_server(args: argparse.Namespace, max_batch: int, workdir: Path,
                 keys_file: Path | None = None) -> tuple[subprocess.Popen, str]:
    """keys_file: the server requires a key from it (on loopback too)."""
    port = free_port()
    command = [sys.executable, "-m", "srllm.cli.serve", "serve", "--host", "127.0.0.1", "--port", str(port),
               "--model", args.model, "--max-new-tokens", str(args.max_new_tokens), "--dtype", args.dtype,
               "--max-batch-size", str(max_batch), "--max-wait-ms", str(args.max_wait_ms),
               "--rate-limit", "0", "--jobs-db", str(workdir / f"jobs-{max_batch}.sqlite"),
               "--max-body-bytes", str(BODY_LIMIT),
               "--scorers", "profanity", "--no-preload-scorers", "--log-level", "info"]
    if keys_file is not None:
        command += ["--require-key", "--keys-file", str(keys_file)]
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


def soak_request(kind: str, rng: random.Random, index: int, key: str) -> tuple[str, dict[str, Any]]:
    """One soak request of a class: its sub-kind and the httpx.post keyword arguments."""
    text = TEXTS[index % len(TEXTS)]
    auth = {"Authorization": f"Bearer {key}"}
    if kind == "valid":
        return "rewrite", {"json": {"texts": [text]}, "headers": auth}
    if kind == "invalid":
        broken = {
            "malformed_json": {"content": b'{"texts": ["' + text.encode() + b'", ',
                               "headers": {**auth, "Content-Type": "application/json"}},
            "wrong_types": {"json": {"texts": [42, None], "score": "maybe"}, "headers": auth},
            "oversize_body": {"json": {"texts": ["x" * BODY_LIMIT]}, "headers": auth},
        }
        sub = rng.choice(sorted(broken))
        return sub, broken[sub]
    sub = rng.choice(["no_key", "wrong_key"])
    return sub, {"json": {"texts": [text]}, "headers": {} if sub == "no_key" else
                 {"Authorization": f"Bearer {WRONG_KEY}"}}


def soak_error(kind: str, status: int) -> bool:
    if kind == "valid":
        return status != 200
    if kind == "invalid":
        return not 400 <= status < 500
    return status not in (401, 429)


async def soak(url: str, pid: int, minutes: float, key: str, mix: list[float], seed: int,
               clients: int = 16) -> dict[str, Any]:
    """Constant load of the mixed classes for `minutes`; resident memory sampled every 5 s."""
    samples: list[tuple[float, float]] = []
    stop = time.perf_counter() + 60 * minutes
    rng = random.Random(seed)  # one event loop, so one generator serves every worker in a fixed order
    classes: dict[str, dict[str, Any]] = {
        kind: {"requests": 0, "statuses": {}, "kinds": {}, "errors": 0, "error_kinds": {}} for kind in SOAK_CLASSES}

    def count(record: dict[str, Any], field: str, key: str) -> None:
        record[field][key] = record[field].get(key, 0) + 1

    async def worker(client: httpx.AsyncClient, index: int) -> None:
        while time.perf_counter() < stop:
            kind = rng.choices(SOAK_CLASSES, weights=mix)[0]
            sub, request = soak_request(kind, rng, index, key)
            record = classes[kind]
            record["requests"] += 1
            count(record, "kinds", sub)
            try:
                status = (await client.post("/v1/rewrite", **request)).status_code
                count(record, "statuses", str(status))
                failed = soak_error(kind, status)
                why = f"{sub}: HTTP {status}"
            except httpx.HTTPError as exc:
                failed, why = True, f"{sub}: {type(exc).__name__}"
            if failed:
                record["errors"] += 1
                count(record, "error_kinds", why)
            index += clients

    async def sampler() -> None:
        started = time.perf_counter()
        while time.perf_counter() < stop:
            value = rss_mb(pid)
            if value is not None:
                samples.append((time.perf_counter() - started, value))
            await asyncio.sleep(5)
        value = rss_mb(pid)  # the end of the soak itself, not up to 5 s before it
        if value is not None:
            samples.append((time.perf_counter() - started, value))

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=600, limits=limits) as client:
        await asyncio.gather(sampler(), *(worker(client, i) for i in range(clients)))
    start = samples[0][1] if samples else None
    # None when the soak ends within its first minute: it then measured warm-up, not growth.
    warm = next((mb for t, mb in samples[:-1] if t >= 60), None)
    end = samples[-1][1] if samples else None
    errors = sum(record["errors"] for record in classes.values())
    return {"minutes": minutes, "clients": clients, "seed": seed,
            "mix_pct": {kind: round(100 * w / sum(mix), 1) for kind, w in zip(SOAK_CLASSES, mix, strict=True)},
            "requests": sum(record["requests"] for record in classes.values()), "errors": errors,
            "classes": classes,
            "rss_start_mb": start, "rss_warm_mb": warm, "rss_end_mb": end,
            "rss_max_mb": max((mb for _, mb in samples), default=None),
            "rss_growth_pct": growth_pct(warm, end), "rss_growth_from_start_pct": growth_pct(start, end),
            "goal_pct": 5.0,
            "met": bool(errors == 0 and warm and end and growth_pct(warm, end) < 5.0),
            "samples": [(round(t, 1), round(mb, 1)) for t, mb in samples]}


def growth_pct(before: float | None, after: float | None) -> float | None:
    return round((after - before) / before * 100, 2) if before and after else None


def soak_markdown(soak: dict[str, Any], model: str) -> str:
    """The soak as a short table per request class (the JSON beside it has the memory samples)."""
    def mb(value: float | None) -> str:
        return "–" if value is None else f"{value:,.0f} MB"

    lines = [f"## Service soak: {soak['minutes']:g} min, {soak['clients']} clients, {model}", "",
             f"Mix (seed {soak['seed']}): " + ", ".join(f"{k} {v:g} %" for k, v in soak["mix_pct"].items()) + ".", "",
             "| class | requests | sent | status codes | errors | error kinds |", "|---|---:|---|---|---:|---|"]

    def counts(values: dict[str, int]) -> str:
        return ", ".join(f"{name} × {n}" for name, n in sorted(values.items())) or "–"

    for kind, record in soak["classes"].items():
        lines.append(f"| {kind} | {record['requests']} | {counts(record['kinds'])} | {counts(record['statuses'])} | "
                     f"{record['errors']} | {counts(record['error_kinds'])} |")
    growth = soak["rss_growth_pct"]
    lines += ["", f"Resident memory: {mb(soak['rss_start_mb'])} at the start, {mb(soak['rss_warm_mb'])} after the "
                  f"first minute, {mb(soak['rss_end_mb'])} at the end (peak {mb(soak['rss_max_mb'])}); growth "
                  "after the first minute **" + ("–" if growth is None else f"{growth:+.2f} %") + "** (goal < 5 %; "
                  "– when the soak is not longer than that minute), from the start "
                  f"{soak['rss_growth_from_start_pct']} %.",
              "", f"Goal (0 errors, growth < 5 %): **{'met' if soak['met'] else 'not met'}**."]
    return "\n".join(lines) + "\n"


def peak_rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


async def drive(url: str, clients: int, total: int, headers: dict[str, str]) -> dict[str, Any]:
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
    async with httpx.AsyncClient(base_url=url, timeout=600, limits=limits, headers=headers) as client:
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
    soaks = name == "batched" and bool(args.soak_minutes)
    # Only a soaking server requires a key: its unauthenticated requests must meet a real check.
    keys_file, key = create_key(workdir) if soaks else (None, "")
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    process, url = start_server(args, max_batch, workdir, keys_file)
    try:
        served = httpx.get(url + "/v1/models", headers=headers).json()["data"][0]  # the adapter actually in use
        asyncio.run(drive(url, 1, 2, headers))  # warm-up: first-call costs are not part of any level
        levels = []
        for clients in args.clients:
            before = batches(url)
            level = asyncio.run(drive(url, clients, args.requests, headers))
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
        if soaks:
            result["soak"] = asyncio.run(soak(url, process.pid, args.soak_minutes, key, args.soak_mix, args.seed))
            print(soak_markdown(result["soak"], args.model), flush=True)
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
                        help="only the soak (no levels, no naive peer); writes serve_soak.json and .md")
    parser.add_argument("--soak-mix", type=float, nargs=3, default=[70, 15, 15],
                        metavar=("VALID", "INVALID", "UNAUTHENTICATED"),
                        help="relative shares of the soak's request classes (default 70 15 15)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the soak's request mix")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if min(args.soak_mix) < 0 or sum(args.soak_mix) <= 0:
        parser.error(f"--soak-mix {' '.join(f'{w:g}' for w in args.soak_mix)}: give three shares >= 0, not all 0")
    if args.soak_only:
        args.soak_minutes = args.soak_minutes or 10
        args.clients = []
    args.out = args.out or RESULTS / ("serve_soak.json" if args.soak_only else "serve_load.json")
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="srllm-serve-load-") as tmp:
        batched = run_mode(args, "batched", args.max_batch_size, Path(tmp))
        naive = None if args.soak_only else run_mode(args, "naive", 1, Path(tmp))
    machine = {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
               "loadavg_before": [round(x, 2) for x in load_before],
               "loadavg_after": [round(x, 2) for x in os.getloadavg()]}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if naive is None:
        args.out.write_text(json.dumps({"benchmark": "serve_soak", "model": args.model, "adapter": args.adapter,
                                        "max_new_tokens": args.max_new_tokens, "guard": args.guard,
                                        "dtype": args.dtype, "machine": machine, "soak": batched["soak"]},
                                       indent=2) + "\n")
        args.out.with_suffix(".md").write_text(soak_markdown(batched["soak"], args.model), encoding="utf-8")
        print(f"wrote {args.out} and {args.out.with_suffix('.md').name}")
        return
    result = {
        "benchmark": "serve_load", "model": args.model, "adapter": args.adapter,
        "max_new_tokens": args.max_new_tokens, "max_wait_ms": args.max_wait_ms, "guard": args.guard,
        "threads": args.threads, "dtype": args.dtype,
        "requests_per_level": args.requests,
        "machine": machine,
        "runs": [batched, naive],
        "goals": goals(batched, naive),
    }
    if "soak" in batched:
        result["goals"]["soak_rss_growth_pct"] = batched["soak"]["rss_growth_pct"]
        result["goals"]["soak_met"] = batched["soak"]["met"]
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["goals"], indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
