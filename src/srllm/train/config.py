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


def setting(default: Any = MISSING, *, help: str, default_factory: Any = MISSING) -> Any:
    """A config field with its help text, which `srllm train --help` shows beside the option made from it."""
    return field(default=default, default_factory=default_factory, metadata={"help": help})


@dataclass
class TrainConfig:
    """Everything a run needs. `None` hyper-parameters take the method's default (see methods/).

    Every field is also an option of `srllm train` (`srllm.cli.options`), with its help text.
    """

    method: str = setting("qlora", help="Training method: qlora | lora | prefix | dense.")
    base: str = setting("smollm2-135m-instruct", help="Registry model name, model directory, .gguf or hub id.")
    data: list[DataSource] = setting(default_factory=list, help="Training CMD file; PATH#train picks a split "
                                                                "part. Repeatable.")
    dev: list[DataSource] = setting(default_factory=list, help="Dev CMD file (PATH#dev). Repeatable.")
    out: str = setting("runs/srllm", help="Run folder: adapter, manifest, checkpoints.")
    template: str = setting("debias", help="Prompt template: debias | debias-marked | job | a JSON file.")
    mark_dropout: float = setting(0.25, help="With a marked template (debias-marked): the share of training "
                                             "inputs with harmful spans that go unmarked, so the model also "
                                             "rewrites harm the judge misses.")
    method_options: dict[str, Any] = setting(
        default_factory=dict, help="Method options (LoRA rank, prefix length, ...), checked by the method's own "
                                   "dataclass.")
    init_adapter: str | None = setting(None, help="Continue from this adapter (two-phase training, paper "
                                                  "Section 5.2).")
    # "sft" (the paper's Eq. 1 on `data`), or preference optimization on `pairs` with TRL's trainers:
    # "dpo" (reference = the init adapter, frozen) or "orpo" (no reference model).
    stage: str = setting("sft", help="sft | dpo | orpo: preference optimization of the adapter on --pairs "
                                     "(TRL's trainers).")
    pairs: list[str] = setting(default_factory=list, help="Preference JSONL (text, chosen, rejected), e.g. a "
                                                          "self-training round's preferences.jsonl. Repeatable.")
    beta: float = setting(0.1, help="DPO beta / ORPO lambda (TRL's defaults).")
    resume: bool = setting(False, help="Continue from the last checkpoint in --out.")
    seed: int = setting(42, help="Seed of the run (initialization, shuffling, dropout).")
    split_ratios: tuple[float, float, float] = setting((0.7, 0.1, 0.2), help="Train, dev and test fractions of "
                                                                             "the data layer's split (PATH#part).")
    # Fixed so every run sees the same parts.
    split_seed: int = setting(0, help="Seed of the data layer's split (srllm.data.split_records).")
    # Paper Table 3.
    learning_rate: float | None = setting(None, help="Default: the method's (2e-4; prefix 5e-5).")
    epochs: float | None = setting(None, help="Default: the method's (1; prefix 5).")
    batch_size: int = setting(16, help="Per-device batch.")
    eval_batch_size: int = setting(8, help="Per-device batch for dev evaluation.")
    gradient_accumulation_steps: int = setting(1, help="Gradient accumulation steps.")
    max_length: int = setting(1024, help="Longest example in tokens.")
    lr_scheduler: str = setting("constant_with_warmup", help="Learning-rate schedule (transformers' names).")
    warmup_ratio: float = setting(0.03, help="Fraction of the steps spent warming up.")
    max_grad_norm: float = setting(0.3, help="Gradient clipping norm.")
    weight_decay: float = setting(0.001, help="AdamW weight decay.")
    optim: str | None = setting(None, help="Optimizer (default: paged_adamw_32bit on GPU, adamw_torch on CPU).")
    eval_steps: int = setting(25, help="Dev evaluation every N steps.")
    eval_on_start: bool = setting(False, help="A step-0 dev loss, the untrained baseline.")
    save_steps: int = setting(25, help="Checkpoint every N steps.")
    early_stopping_patience: int = setting(3, help="Early-stopping patience in evaluations.")
    save_total_limit: int = setting(2, help="Checkpoints kept in --out.")
    max_steps: int = setting(-1, help="Stop after this many steps (overrides epochs; -1 = no limit).")
    # Speed. group_by_length: batches of similar length, so little padding is computed. packing:
    # a batch flattened into one padding-free row (block-diagonal attention); worth it with a
    # varlen attention kernel (flash-attention on GPU), a loss on CPU where sdpa materialises the
    # row's full attention matrix. Logits are computed only at response positions either way.
    group_by_length: bool = setting(True, help="Batch examples of similar length (little padding).")
    packing: bool = setting(False, help="Padding-free batches (one row per batch, block-diagonal attention).")
    gradient_checkpointing: bool = setting(False, help="Recompute activations in the backward pass (less "
                                                       "memory, more time).")
    # Every prompt starts with the same system prompt + instruction (~60 % of a sequence): run it
    # once per batch and share its keys/values with every row (gradients add up through the
    # share, so the update is the same; LoRA dropout on those tokens is drawn once per batch).
    share_prompt_head: bool = setting(True, help="Run the prompt head every example shares once per batch.")
    threads: int | None = setting(None, help="CPU threads for torch.")
    logging_steps: int = setting(1, help="Log the training loss every N steps.")
    # Energy (paper Appendix D): declared device watts x hours x carbon intensity.
    device_watts: float | None = setting(None, help="Declared device power for the Appendix D estimate.")
    carbon_intensity_kg_per_kwh: float = setting(0.4, help="kg CO2e per kWh for the Appendix D estimate.")
    measure_energy: bool = setting(True, help="Measure with codecarbon.")
    progress: bool = setting(True, help="Show a progress bar.")
    # The shipped adapter is float16.
    save_dtype: str = setting("float32", help="float32 | float16 | bfloat16 for the saved adapter (half the size).")
    keep_checkpoints: bool = setting(True, help="Keep the checkpoints in --out after training.")

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
