"""CPU engines side by side: srllm's transformers engine, srllm's llama.cpp engine, llama.cpp's own server and the
transformers pipeline, on the same model (the default model with the shipped adapter merged), in one run.

1. Batch rewriting (`batch` rows): the same prompts, greedy, the same max_new_tokens, at batch 1/8/32:
   - `transformers-fp32` (and `transformers-bf16` where the CPU computes bf16 natively): `Rewriter.rewrite`;
   - `llama-cpp-f16`, `llama-cpp-q8_0`: `LlamaCppRewriter.rewrite` on the merged GGUF (`srllm merge --gguf`);
   - `llamacpp-server`: llama.cpp's own server on the same f16 GGUF, `batch` concurrent chat requests (llama-server
     with `--parallel 32` when --llama-server names a binary; else `python -m llama_cpp.server`, which
     serves one request at a time);
   - `pipeline-fp32`: transformers' pipeline("text-generation") on the same merged fp32 model, batch_size=batch.
2. The service (`service` rows): one-text requests at 1/4/16 concurrent clients (req/s, p50/p95): `srllm serve
   --no-guard` with each of our engines, and llama.cpp's server answering the same prompts as chat completions.
3. Dev-case quality (`devcases`): greedy rewrites of the dev cases (../shared/data/devcases) by each of our engines,
   scored by ../shared/tools/score_cases.py (no guard: the engines' own output), to pick the CPU default: the
   fastest engine (batch-32 tok/s) whose pass rate is within 2 points of the transformers engine as it ships
   (dtype auto).

Writes benchmarks/results/engines.json and engines.md (engines_quick.* with --quick). Top-level fields:
cpu_flags, default_engine, ratio_vs_pipeline_batch32, ratio_vs_llamacpp_server_16_clients, p95_over_single_16_clients.

Needs `pip install 'srllm[llamacpp]' 'llama-cpp-python[server]==0.3.36'` (the server's extras).

    .venv/bin/python benchmarks/engines.py --quick     # a few prompts: checks the plumbing, ~10 min on 2 cores
    .venv/bin/python benchmarks/engines.py             # the full run (see docs/engines.md for its duration)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
sys.path.insert(0, str(Path(__file__).parent))
from rewrite_throughput import SENTENCES  # noqa: E402
from serve_load import TEXTS as SERVICE_TEXTS  # noqa: E402
from serve_load import percentiles  # noqa: E402

CPU_FLAGS = ("avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16",
             "avx_vnni", "amx_tile", "amx_bf16", "amx_int8")
OUR_ENGINES = ("transformers-fp32", "transformers-bf16", "llama-cpp-f16", "llama-cpp-bf16", "llama-cpp-q8_0")
NATIVE_BF16_ONLY = ("transformers-bf16", "llama-cpp-bf16")


def cpu_info() -> dict[str, Any]:
    text = Path("/proc/cpuinfo").read_text(errors="ignore") if Path("/proc/cpuinfo").is_file() else ""
    flags: set[str] = set()
    model = ""
    for line in text.splitlines():
        if line.startswith("flags") and not flags:
            flags = set(line.split(":", 1)[1].split())
        if line.startswith("model name") and not model:
            model = line.split(":", 1)[1].strip()
    return {"cpu_flags": [flag for flag in CPU_FLAGS if flag in flags], "cpu_model": model,
            "cpus": len(os.sched_getaffinity(0)), "machine": platform.machine()}


def prompts(n: int) -> list[str]:
    return [f"{SENTENCES[i % len(SENTENCES)]} (case {i})" for i in range(n)]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- engines -------------------------------------------------------------------------------------------------------

def load_ours(name: str, max_new_tokens: int | None) -> Any:
    from srllm.engine.llama_cpp import LlamaCppRewriter
    from srllm.models import DEFAULT_MODEL
    from srllm.rewrite import GenerationSettings, Rewriter

    settings = GenerationSettings(max_new_tokens=max_new_tokens)
    if name.startswith("transformers-"):
        dtype = {"fp32": "float32", "bf16": "bfloat16", "auto": "auto"}[name.split("-", 1)[1]]
        return Rewriter.load(DEFAULT_MODEL, settings=settings, dtype=dtype)
    return LlamaCppRewriter.from_model(DEFAULT_MODEL, outtype=name.rsplit("-", 1)[1], settings=settings)


def timed_rewrite(engine: Any, texts: list[str], batch_size: int) -> dict[str, Any]:
    start = time.perf_counter()
    results = engine.rewrite(texts, batch_size=batch_size)
    seconds = time.perf_counter() - start
    tokens = sum(r.generated_tokens for r in results)
    return {"batch_size": batch_size, "seconds": round(seconds, 3), "generated_tokens": tokens,
            "tokens_per_s": round(tokens / seconds, 2), "rewrites_per_s": round(len(texts) / seconds, 3)}


def pipeline_rows(texts: list[str], batch_sizes: list[int], max_new_tokens: int) -> list[dict[str, Any]]:
    """transformers' pipeline on the merged fp32 model, batched (left padding), the same chat prompts."""
    from transformers import pipeline

    from srllm.models import DEFAULT_MODEL
    from srllm.rewrite import Rewriter

    rewriter = Rewriter.load(DEFAULT_MODEL, dtype="float32")
    loaded = rewriter.loaded
    pipe = pipeline("text-generation", model=loaded.model, tokenizer=loaded.tokenizer)
    chats = [rewriter.prompt(text) for text in texts]
    pipe(chats[:2], max_new_tokens=4, do_sample=False, return_full_text=False, batch_size=2)  # warm-up
    rows = []
    for batch_size in batch_sizes:
        start = time.perf_counter()
        outputs = pipe(chats, max_new_tokens=max_new_tokens, do_sample=False, return_full_text=False,
                       batch_size=batch_size)
        seconds = time.perf_counter() - start
        # +1: the end-of-turn token the text does not show (capped at the budget).
        tokens = sum(min(max_new_tokens, len(loaded.tokenizer(o[0]["generated_text"],
                                                              add_special_tokens=False)["input_ids"]) + 1)
                     for o in outputs)
        rows.append({"batch_size": batch_size, "seconds": round(seconds, 3), "generated_tokens": tokens,
                     "tokens_per_s": round(tokens / seconds, 2), "rewrites_per_s": round(len(texts) / seconds, 3)})
        print(json.dumps({"engine": "pipeline-fp32", **rows[-1]}), flush=True)
    return rows


# --- llama.cpp's server --------------------------------------------------------------------------------------------

def start_llamacpp_server(gguf: Path, binary: str | None, slots: int, workdir: Path,
                          threads: int) -> tuple[subprocess.Popen, str, str]:
    port = free_port()
    threads = str(threads)
    if binary:
        command = [binary, "-m", str(gguf), "--host", "127.0.0.1", "--port", str(port), "-c", str(512 * slots),
                   "--parallel", str(slots), "-t", threads, "-tb", threads, "--cont-batching"]
        kind = f"llama-server --parallel {slots}"
    else:
        command = [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--host", "127.0.0.1", "--port",
                   str(port), "--n_ctx", "4096", "--n_threads", threads, "--n_threads_batch", threads]
        kind = "llama_cpp.server (one request at a time)"
    log = open(workdir / "llamacpp-server.log", "wb")  # noqa: SIM115 - lives as long as the server
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    wait_ready(process, url + "/v1/models", workdir / "llamacpp-server.log")
    return process, url, kind


def wait_ready(process: subprocess.Popen, url: str, log: Path, timeout: float = 900) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited: {log.read_text(errors='replace')[-2000:]}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    process.kill()
    raise RuntimeError(f"{url} did not become ready")


def chat_body(text: str, max_new_tokens: int) -> dict[str, Any]:
    from srllm.prompts import build_messages

    return {"messages": build_messages(text), "max_tokens": max_new_tokens, "temperature": 0.0}


async def chat_batch(url: str, texts: list[str], concurrency: int, max_new_tokens: int) -> dict[str, Any]:
    """`concurrency` requests in flight at a time, each one chat completion of one text."""
    tokens = 0
    queue = list(texts)

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal tokens
        while queue:
            text = queue.pop()
            response = await client.post("/v1/chat/completions", json=chat_body(text, max_new_tokens))
            response.raise_for_status()
            body = response.json()
            # +1 for a stop: the end-of-turn token, which our engines count (as generate() does) and usage omits.
            tokens += body["usage"]["completion_tokens"] + (body["choices"][0].get("finish_reason") == "stop")

    start = time.perf_counter()
    async with httpx.AsyncClient(base_url=url, timeout=900) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
    seconds = time.perf_counter() - start
    return {"batch_size": concurrency, "seconds": round(seconds, 3), "generated_tokens": tokens,
            "tokens_per_s": round(tokens / seconds, 2), "rewrites_per_s": round(len(texts) / seconds, 3)}


# --- the service ---------------------------------------------------------------------------------------------------

def start_srllm_server(backend: str, max_new_tokens: int, workdir: Path, dtype: str, threads: int,
                       model: str | None = None) -> tuple[subprocess.Popen, str]:
    port = free_port()
    command = [sys.executable, "-m", "srllm.cli.serve", "serve", "--host", "127.0.0.1", "--port", str(port),
               "--backend", backend, "--max-new-tokens", str(max_new_tokens), "--dtype", dtype, "--no-guard",
               "--max-batch-size", "16", "--rate-limit", "0", "--jobs-db", str(workdir / f"jobs-{backend}.sqlite"),
               "--scorers", "profanity", "--no-preload-scorers", "--log-level", "warning",
               "--threads", str(threads)]
    if model:
        command += ["--model", model]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "PYTHONPATH": str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    log_path = workdir / f"srllm-{backend}.log"
    process = subprocess.Popen(command, env=env, stdout=open(log_path, "wb"), stderr=subprocess.STDOUT)  # noqa: SIM115
    url = f"http://127.0.0.1:{port}"
    wait_ready(process, url + "/readyz", log_path)
    return process, url


async def drive(url: str, clients: int, requests: int, request: Any) -> dict[str, Any]:
    """`requests` one-text requests from `clients` concurrent clients; request(client, i) sends one."""
    latencies: list[float] = []
    errors = 0
    counter = iter(range(requests))

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal errors
        for index in counter:
            start = time.perf_counter()
            try:
                response = await request(client, index)
                if response.status_code != 200:
                    errors += 1
            except httpx.HTTPError:
                errors += 1
            latencies.append(time.perf_counter() - start)

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    start = time.perf_counter()
    async with httpx.AsyncClient(base_url=url, timeout=900, limits=limits) as client:
        await asyncio.gather(*(worker(client) for _ in range(clients)))
    seconds = time.perf_counter() - start
    return {"clients": clients, "requests": requests, "errors": errors, "seconds": round(seconds, 3),
            "requests_per_s": round(requests / seconds, 3), **percentiles(latencies)}


def service_levels(url: str, clients: list[int], requests: int, request: Any) -> list[dict[str, Any]]:
    asyncio.run(drive(url, 1, 2, request))  # warm-up
    levels = []
    for n in clients:
        levels.append(asyncio.run(drive(url, n, max(requests, n), request)))
        print(json.dumps(levels[-1]), flush=True)
    return levels


def rewrite_request(client: httpx.AsyncClient, index: int) -> Any:
    return client.post("/v1/rewrite", json={"texts": [SERVICE_TEXTS[index % len(SERVICE_TEXTS)]]})


def chat_request(max_new_tokens: int) -> Any:
    def send(client: httpx.AsyncClient, index: int) -> Any:
        return client.post("/v1/chat/completions",
                           json=chat_body(SERVICE_TEXTS[index % len(SERVICE_TEXTS)], max_new_tokens))
    return send


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()


# --- dev cases -----------------------------------------------------------------------------------------------------

def devcase_score(engine: Any, cases: list[dict[str, Any]], shared: Path, workdir: Path, name: str) -> dict[str, Any]:
    results = engine.rewrite([case["text"] for case in cases], batch_size=16)
    rewrites = workdir / f"devcases-{name}.jsonl"
    rewrites.write_text("".join(json.dumps({"id": case["id"], "rewrite": result.rewrite}) + "\n"
                                for case, result in zip(cases, results, strict=True)), encoding="utf-8")
    cases_file = workdir / "devcases.jsonl"
    cases_file.write_text("".join(json.dumps(case) + "\n" for case in cases), encoding="utf-8")
    scored = workdir / f"devcases-{name}.score.json"
    subprocess.run([sys.executable, str(shared / "tools" / "score_cases.py"), str(cases_file), str(rewrites),
                    "--json", str(scored)], check=True, capture_output=True, text=True)
    report = json.loads(scored.read_text(encoding="utf-8"))
    return {"cases": len(cases), "pass_rate_pct": round(100 * float(report["overall"]["rate"]), 2),
            "similarity": report["similarity"]["method"],
            "per_kind": {kind: value["rate"] for kind, value in report["per_kind"].items()}}


def pick_cases(shared: Path, n: int) -> list[dict[str, Any]]:
    """Every kth case, so a subset keeps the kinds' mix."""
    lines = (shared / "data" / "devcases" / "cases.jsonl").read_text(encoding="utf-8").splitlines()
    cases = [json.loads(line) for line in lines if line.strip()]
    if n >= len(cases):
        return cases
    step = len(cases) / n
    return [cases[int(i * step)] for i in range(n)]


# --- the run -------------------------------------------------------------------------------------------------------

def quality_reference(result: dict[str, Any]) -> str:
    """The transformers engine as `srllm rewrite` ships it (dtype auto: bf16 where native, else fp32)."""
    return "transformers-bf16" if "transformers-bf16" in result["devcases"] else "transformers-fp32"


def best_engine(result: dict[str, Any], prefix: str = "") -> str | None:
    """The fastest of our engines (named `prefix`...) at the largest batch whose dev pass rate is within 2 points
    of the quality reference's."""
    quality, reference = result["devcases"], quality_reference(result)
    if reference not in quality:
        return None
    floor = quality[reference]["pass_rate_pct"] - 2.0
    speed = {name: rows[-1]["tokens_per_s"] for name, rows in result["batch"].items()
             if name in quality and name.startswith(prefix)}
    keeps = [name for name in speed if quality[name]["pass_rate_pct"] >= floor]
    return max(keeps, key=lambda name: speed[name]) if keeps else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="8 prompts, batch 1/8, 1/4 clients, 10 dev cases")
    parser.add_argument("--n", type=int, default=64, help="prompts for the batch rows")
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--batch-sizes", default="1,8,32")
    parser.add_argument("--clients", default="1,4,16")
    parser.add_argument("--requests", type=int, default=48, help="requests per service level")
    parser.add_argument("--devcases", type=int, default=150, help="dev cases scored per engine")
    parser.add_argument("--llama-server", default=None, help="a llama-server binary (built from the sdist); "
                                                             "default: python -m llama_cpp.server")
    parser.add_argument("--threads", type=int, default=None,
                        help="CPU threads for every engine and server (default: all CPUs); 1 on a CPU shared with "
                             "other busy processes, where llama.cpp's spinning threads lose most")
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    parser.add_argument("--out", type=Path, default=None,
                        help="default: benchmarks/results/engines.json (engines_quick.json with --quick)")
    args = parser.parse_args()
    args.out = args.out or RESULTS / ("engines_quick.json" if args.quick else "engines.json")
    if args.quick:
        args.n, args.batch_sizes, args.clients, args.requests, args.devcases = 8, "1,8", "1,4", 8, 10
        args.max_new_tokens = min(args.max_new_tokens, 16)
    batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)  # our llama.cpp engine takes torch's count (engine.llama_cpp)
    threads = torch.get_num_threads()
    clients = [int(c) for c in args.clients.split(",")]
    texts = prompts(args.n)
    from srllm.models import DEFAULT_MODEL
    from srllm.models.dtype import cpu_has_native_bf16
    from srllm.models.merge import merged_gguf

    engines = [name for name in OUR_ENGINES if name not in NATIVE_BF16_ONLY or cpu_has_native_bf16()]
    started = time.perf_counter()
    result: dict[str, Any] = {**cpu_info(), "cpu_native_bf16": cpu_has_native_bf16(), "model": DEFAULT_MODEL,
                              "adapter": "shipped (merged)", "prompts": args.n, "max_new_tokens": args.max_new_tokens,
                              "quick": args.quick, "threads": threads, "batch": {}, "service": {}, "devcases": {}}
    gguf = merged_gguf(DEFAULT_MODEL, "auto", outtype="f16")
    cases = pick_cases(args.shared, args.devcases)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        for name in engines:
            engine = load_ours(name, args.max_new_tokens)
            engine.rewrite(texts[:2], batch_size=2)  # warm-up
            result["batch"][name] = []
            for batch_size in batch_sizes:
                result["batch"][name].append(timed_rewrite(engine, texts, batch_size))
                print(json.dumps({"engine": name, **result["batch"][name][-1]}), flush=True)
            # Quality with the scaled budget users get (no fixed max_new_tokens).
            unbounded = load_ours(name, None) if name.startswith("transformers-") else engine.__class__(
                engine.loaded, settings=type(engine.settings)())
            result["devcases"][name] = devcase_score(unbounded, cases, args.shared, workdir, name)
            print(json.dumps({"engine": name, "devcases": result["devcases"][name]}), flush=True)
            del engine, unbounded
        result["batch"]["pipeline-fp32"] = pipeline_rows(texts, batch_sizes, args.max_new_tokens)
        slots = max(max(batch_sizes), max(clients))
        process, url, kind = start_llamacpp_server(gguf, args.llama_server, slots, workdir, threads)
        try:
            result["llamacpp_server"] = kind
            rows = []
            asyncio.run(chat_batch(url, texts[:2], 2, 4))  # warm-up
            for batch_size in batch_sizes:
                rows.append(asyncio.run(chat_batch(url, texts, batch_size, args.max_new_tokens)))
                print(json.dumps({"engine": "llamacpp-server", **rows[-1]}), flush=True)
            result["batch"]["llamacpp-server"] = rows
            result["service"]["llamacpp-server"] = service_levels(url, clients, args.requests,
                                                                  chat_request(args.max_new_tokens))
        finally:
            stop(process)
        # Our server with the transformers engine as it ships (dtype auto) and with the best llama.cpp engine.
        best_llama = best_engine(result, "llama-cpp-") or "llama-cpp-f16"
        result["service_llama_cpp_engine"] = best_llama
        for backend, dtype in (("transformers", "auto"), ("llama-cpp", best_llama.rsplit("-", 1)[1])):
            process, url = start_srllm_server(backend, args.max_new_tokens, workdir, dtype, threads)
            try:
                result["service"][f"srllm-{backend}"] = service_levels(url, clients, args.requests, rewrite_request)
            finally:
                stop(process)
    summarize(result, batch_sizes, clients)
    result["wall_s"] = round(time.perf_counter() - started, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    args.out.with_suffix(".md").write_text(markdown(result), encoding="utf-8")
    print(json.dumps({k: result[k] for k in ("default_engine", "ratio_vs_pipeline_batch32",
                                             "ratio_vs_llamacpp_server_16_clients", "p95_over_single_16_clients")}))


def summarize(result: dict[str, Any], batch_sizes: list[int], clients: list[int]) -> None:
    """The top-level fields: the default engine (speed within the quality floor) and its ratios."""
    default = best_engine(result)
    result["default_engine"] = default
    result["quality_reference"] = quality_reference(result)
    largest = batch_sizes[-1]
    if largest != 32:
        result["note"] = f"ratios at batch {largest} and {clients[-1]} clients (this run's largest), not 32 / 16"

    def at(rows: list[dict], key: str, value: int) -> dict | None:
        return next((row for row in rows if row[key] == value), None)

    pipeline = at(result["batch"].get("pipeline-fp32", []), "batch_size", largest)
    mine = at(result["batch"].get(default, []), "batch_size", largest) if default else None
    result["ratio_vs_pipeline_batch32"] = (round(mine["tokens_per_s"] / pipeline["tokens_per_s"], 2)
                                          if mine and pipeline else None)
    service = f"srllm-{'llama-cpp' if default and default.startswith('llama-cpp') else 'transformers'}"
    top, single = clients[-1], clients[0]
    ours_top = at(result["service"].get(service, []), "clients", top)
    ours_single = at(result["service"].get(service, []), "clients", single)
    peer_top = at(result["service"].get("llamacpp-server", []), "clients", top)
    result["default_service"] = service
    result["ratio_vs_llamacpp_server_16_clients"] = (round(ours_top["requests_per_s"] / peer_top["requests_per_s"], 2)
                                                    if ours_top and peer_top else None)
    result["p95_over_single_16_clients"] = (round(ours_top["p95_s"] / ours_single["p50_s"], 2)
                                            if ours_top and ours_single else None)
    result["goals"] = {"ratio_vs_pipeline_batch32 >= 3": (result["ratio_vs_pipeline_batch32"] or 0) >= 3,
                       "ratio_vs_llamacpp_server_16_clients >= 1":
                           (result["ratio_vs_llamacpp_server_16_clients"] or 0) >= 1,
                       "p95_over_single_16_clients <= 2": (result["p95_over_single_16_clients"] or 99) <= 2}


def markdown(result: dict[str, Any]) -> str:
    lines = [f"# CPU engines side by side ({'quick run' if result['quick'] else 'full run'})", "",
             f"CPU: {result['cpu_model']} ({result['cpus']} CPUs), flags: {', '.join(result['cpu_flags'])}; "
             f"model {result['model']} + the shipped adapter (merged); {result['prompts']} prompts, "
             f"{result['max_new_tokens']} new tokens at most, greedy, {result['threads']} threads per engine. "
             f"llama.cpp's server: {result.get('llamacpp_server')}.",
             "", "## Batch rewriting (generated tokens/s)", ""]
    sizes = [row["batch_size"] for row in next(iter(result["batch"].values()))]
    lines += ["| engine | " + " | ".join(f"batch {b}" for b in sizes) + " | dev-case pass rate |",
              "|---|" + "---:|" * (len(sizes) + 1)]
    for name, rows in result["batch"].items():
        rate = result["devcases"].get(name, {}).get("pass_rate_pct")
        lines.append(f"| {name} | " + " | ".join(f"{row['tokens_per_s']:.1f}" for row in rows) +
                     f" | {'–' if rate is None else f'{rate:.1f} %'} |")
    lines += ["", "## The service (one-text requests)", "", "| server | clients | req/s | p50 s | p95 s | errors |",
              "|---|---:|---:|---:|---:|---:|"]
    for name, levels in result["service"].items():
        for level in levels:
            lines.append(f"| {name} | {level['clients']} | {level['requests_per_s']:.2f} | {level['p50_s']:.2f} | "
                         f"{level['p95_s']:.2f} | {level['errors']} |")
    lines += ["", "## Summary", "",
              f"- default engine (fastest within 2 points of {result['quality_reference']}'s dev-case pass rate): "
              f"**{result['default_engine']}**",
              f"- ratio vs the transformers pipeline at the largest batch: **{result['ratio_vs_pipeline_batch32']}** "
              "(goal ≥ 3)",
              f"- ratio vs llama.cpp's server at the most clients (req/s): "
              f"**{result['ratio_vs_llamacpp_server_16_clients']}** (goal ≥ 1)",
              f"- p95 at the most clients over a single request's p50: **{result['p95_over_single_16_clients']}** "
              "(goal ≤ 2)"]
    if result.get("note"):
        lines += [f"- note: {result['note']}"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
