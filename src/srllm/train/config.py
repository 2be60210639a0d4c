"""One config object per training run (defaults: SR-LLM paper, Table 3); saved in its manifest."""

from __future__ import annotations

import json
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from srllm.errors import InputError

SPLITS = ("all", "train", "dev", "test")
STAGES = ("sft", "dpo", "orpo")


@dataclass
class DataSource:
    """A file of CMD records, optionally narrowed to one hash split or a capped sample.

    `split`: keep only that part of the data layer's deterministic split (`srllm.data.split_records`
    with `TrainConfig.split_ratios`), so train/dev/test never overlap across runs. `exclude_last`: drop the
    file's last N rows (a held-out slice, e.g. ParaDetox's last 500). `limit`: a seeded sample.
    """

    path: str
    split: str = "all"
    limit: int | None = None
    exclude_last: int = 0

    @classmethod
    def parse(cls, value: str | dict[str, Any] | DataSource) -> DataSource:
        """'PATH', 'PATH#train' or {"path": ..., "split": ..., "limit": ..., "exclude_last": ...}."""
        if isinstance(value, DataSource):
            return value
        if isinstance(value, dict):
            unknown = set(value) - {f.name for f in fields(cls)}
            if unknown or "path" not in value:
                raise InputError(f"a data source needs 'path' and may have split/limit/exclude_last; "
                                 f"got {sorted(value)}", field="data")
            source = cls(**value)
        else:
            path, _, split = str(value).partition("#")
            source = cls(path=path, split=split or "all")
        if source.split not in SPLITS:
            raise InputError(f"unknown split '{source.split}' in data source {source.path}; use one of "
                             f"{', '.join(SPLITS)}", field="data")
        return source


@dataclass
class TrainConfig:
    """Everything a run needs. `None` hyper-parameters take the method's default (see methods/)."""

    method: str = "qlora"
    base: str = "smollm2-135m-instruct"
    data: list[DataSource] = field(default_factory=list)
    dev: list[DataSource] = field(default_factory=list)
    out: str = "runs/srllm"
    template: str = "debias"
    # Method options (LoRA rank, prefix length, ...), validated by the method's own dataclass.
    method_options: dict[str, Any] = field(default_factory=dict)
    init_adapter: str | None = None  # two-phase training (paper Section 5.2)
    # "sft" (the paper's Eq. 1 on `data`), or preference optimization on `pairs` with TRL's trainers:
    # "dpo" (reference = the init adapter, frozen) or "orpo" (no reference model).
    stage: str = "sft"
    pairs: list[str] = field(default_factory=list)  # JSONL of {"text", "chosen", "rejected"}
    beta: float = 0.1  # DPO's beta / ORPO's lambda (TRL's defaults)
    resume: bool = False
    seed: int = 42
    split_ratios: tuple[float, float, float] = (0.7, 0.1, 0.2)
    split_seed: int = 0  # srllm.data.split_records' seed; fixed so every run sees the same parts
    # Paper Table 3.
    learning_rate: float | None = None
    epochs: float | None = None
    batch_size: int = 16
    eval_batch_size: int = 8
    gradient_accumulation_steps: int = 1
    max_length: int = 1024
    lr_scheduler: str = "constant_with_warmup"
    warmup_ratio: float = 0.03
    max_grad_norm: float = 0.3
    weight_decay: float = 0.001
    optim: str | None = None  # None: paged_adamw_32bit on GPU, adamw_torch on CPU
    eval_steps: int = 25
    eval_on_start: bool = False  # a step-0 dev loss, the untrained baseline
    save_steps: int = 25
    early_stopping_patience: int = 3
    save_total_limit: int = 2
    max_steps: int = -1
    # Speed. group_by_length: batches of similar length, so little padding is computed. packing:
    # a batch flattened into one padding-free row (block-diagonal attention); worth it with a
    # varlen attention kernel (flash-attention on GPU), a loss on CPU where sdpa materialises the
    # row's full attention matrix. Logits are computed only at response positions either way.
    group_by_length: bool = True
    packing: bool = False
    gradient_checkpointing: bool = False
    # Every prompt starts with the same system prompt + instruction (~60 % of a sequence): run it
    # once per batch and share its keys/values with every row (gradients add up through the
    # share, so the update is the same; LoRA dropout on those tokens is drawn once per batch).
    share_prompt_head: bool = True
    threads: int | None = None
    logging_steps: int = 1
    # Energy (paper Appendix D): declared device watts x hours x carbon intensity.
    device_watts: float | None = None
    carbon_intensity_kg_per_kwh: float = 0.4
    measure_energy: bool = True
    progress: bool = True
    # "float16"/"bfloat16" halves the saved adapter (the shipped one is float16).
    save_dtype: str = "float32"
    keep_checkpoints: bool = True

    def __post_init__(self) -> None:
        self.data = [DataSource.parse(s) for s in self.data]
        self.dev = [DataSource.parse(s) for s in self.dev]
        self.split_ratios = tuple(float(r) for r in self.split_ratios)  # type: ignore[assignment]
        if self.stage not in STAGES:
            raise InputError(f"unknown stage '{self.stage}'; use one of {', '.join(STAGES)}", field="stage")
        self.pairs = [str(p) for p in self.pairs]
        if len(self.split_ratios) != 3 or abs(sum(self.split_ratios) - 1.0) > 1e-6:
            raise InputError("split_ratios must be three fractions (train, dev, test) summing to 1",
                             field="split_ratios")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any], *, where: str | None = None) -> TrainConfig:
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(raw) - set(known))
        if unknown:
            raise InputError(f"unknown config keys {unknown}; known keys: {', '.join(sorted(known))}",
                             path=where)
        try:
            return cls(**raw)
        except TypeError as exc:
            raise InputError(f"bad config ({exc})", path=where) from exc


def read_config_file(path: str | Path) -> dict[str, Any]:
    """A JSON or YAML file holding TrainConfig keys."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read the config file ({exc.strerror})", path=str(path)) from exc
    try:
        if path.suffix.lower() in (".yaml", ".yml"):
            import yaml

            raw = yaml.safe_load(text) or {}
        else:
            raw = json.loads(text)
    except Exception as exc:  # json and yaml raise unrelated types; both are the user's to fix
        raise InputError(f"is not valid {path.suffix.lstrip('.').upper() or 'JSON'} ({exc})",
                         path=str(path)) from exc
    if not isinstance(raw, dict):
        raise InputError("must hold a mapping of config keys", path=str(path))
    # JSON has no comments: keys starting with "_" are notes for people, not config.
    return {k: v for k, v in raw.items() if not str(k).startswith("_")}


def load_config(path: str | Path | None = None, **overrides: Any) -> TrainConfig:
    """Config file (optional) + overrides; overrides that are None are ignored (CLI flags not given)."""
    raw = read_config_file(path) if path else {}
    options = dict(raw.get("method_options", {}))
    options.update(overrides.pop("method_options", None) or {})
    raw.update({k: v for k, v in overrides.items() if v is not None})
    raw["method_options"] = options
    return TrainConfig.from_dict(raw, where=str(path) if path else None)


def parse_assignments(pairs: list[str]) -> dict[str, Any]:
    """['r=16', 'target_modules=["q_proj"]'] -> {'r': 16, ...}; values are JSON when they parse."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InputError(f"'{pair}' is not KEY=VALUE", field="set")
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip()] = value
    return out


def default_of(cls: type, name: str) -> Any:
    for f in fields(cls):
        if f.name == name:
            return f.default if f.default is not MISSING else f.default_factory()  # type: ignore[misc]
    raise KeyError(name)
