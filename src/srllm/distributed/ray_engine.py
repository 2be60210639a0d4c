"""`srllm rewrite --engine ray`: the same rewrite pipeline as Ray Data `map_batches` over a cluster.

Each Ray actor loads one engine from `EngineArgs` exactly as `srllm serve` does (`rewrite.load_guarded`
over `engine.load_engine`: the local transformers model with the guard, or an OpenAI-compatible server
such as vLLM replicas on GPUs) and rewrites batches of rows. The driver streams results back with
`iter_batches` and hands them to `rewrite.jobs.run_file_job`, which appends each batch to the partial
file before asking for the next, so an interrupted job resumes with `--resume` like a local one, and the
final output is written atomically in input order.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from srllm.errors import SrllmError
from srllm.rewrite.inputs import InputRow
from srllm.rewrite.jobs import RowStream


@dataclass(frozen=True)
class RayOptions:
    address: str | None = None  # None: start a local Ray; "auto" or "ray://host:10001": join a cluster
    actors: int = 1  # engine replicas (each loads the model once)
    cpus_per_actor: float = 1.0
    gpus_per_actor: float = 0.0
    batch_size: int = 16  # rows per map_batches call (and per generation batch)
    object_store_mb: int = 256  # local Ray only: keep the object store small on laptops and CI


class RewriteActor:
    """One engine per actor; `__call__` rewrites a batch of rows (Ray Data's callable-class UDF)."""

    def __init__(self, settings: dict[str, Any], batch_size: int) -> None:
        from srllm.engine.args import EngineArgs
        from srllm.rewrite.loader import load_guarded

        self.engine = load_guarded(EngineArgs(**settings))
        self.batch_size = batch_size

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        texts = [str(text) for text in batch["text"]]
        results = self.engine.rewrite(texts, batch_size=self.batch_size)
        # JSON keeps the result schema free-form (guarded rows carry scores and reasons).
        return {"row": batch["row"], "result": [json.dumps(_as_dict(r), ensure_ascii=False) for r in results]}


def _as_dict(result: Any) -> dict[str, Any]:
    if isinstance(result, dict):
        return result
    if hasattr(result, "to_dict"):
        return result.to_dict()
    return dict(vars(result))


def ensure_ray(options: RayOptions) -> Any:
    try:
        import ray
    except ImportError as exc:
        raise SrllmError("--engine ray needs Ray: pip install 'srllm[ray]' (ray[data])") from exc
    if not ray.is_initialized():
        if options.address:
            ray.init(address=options.address, log_to_driver=False)
        else:
            ray.init(include_dashboard=False, log_to_driver=False,
                     object_store_memory=options.object_store_mb * 1024 * 1024)
    return ray


def ray_stream(settings: dict[str, Any], options: RayOptions) -> RowStream:
    """A `run_file_job` stream that rewrites rows on Ray actors and yields results as they finish.
    `settings`: `EngineArgs` fields (a plain dict travels to the actors)."""

    def stream(rows: list[InputRow]) -> Iterator[tuple[list[InputRow], list[Any]]]:
        ray = ensure_ray(options)
        by_index = {row.index: row for row in rows}
        dataset = ray.data.from_items([{"row": row.index, "text": row.text} for row in rows])
        resources: dict[str, float] = {"num_cpus": options.cpus_per_actor}
        if options.gpus_per_actor:
            resources["num_gpus"] = options.gpus_per_actor
        rewritten = dataset.map_batches(
            RewriteActor, batch_size=options.batch_size, batch_format="numpy",
            fn_constructor_kwargs={"settings": settings, "batch_size": options.batch_size},
            compute=ray.data.ActorPoolStrategy(size=options.actors), **resources,
        )
        for batch in rewritten.iter_batches(batch_size=options.batch_size, batch_format="numpy"):
            batch_rows = [by_index[int(index)] for index in batch["row"]]
            results = [SimpleNamespace(**json.loads(str(item))) for item in batch["result"]]
            yield batch_rows, results

    return stream
