"""A transformers Trainer that computes the completion-only loss cheaply, and its callbacks."""

from __future__ import annotations

import time
from typing import Any

from transformers import Trainer, TrainerCallback

from srllm.train.data import IGNORE_INDEX


class CompletionOnlyTrainer(Trainer):
    """Completion-only cross-entropy (paper Eq. 1) that projects to the vocabulary only where a
    label exists: with a 49k vocabulary the LM head and its softmax dominate a small model's
    step, and prompt positions (most of each sequence) never enter the loss.
    """

    # compute_loss normalises by the token count over the whole accumulated batch itself.
    loss_is_scaled_for_ga = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.model_accepts_loss_kwargs = True  # so Trainer counts num_items_in_batch for us
        self.train_tokens = 0  # non-padding tokens seen in training steps (this process)
        self.shared_head = 0  # tokens every row starts with, run once per batch (0: off)
        self.shared_head_batches = 0  # batches that took the shared-head path

    def compute_loss(self, model: Any, inputs: dict[str, Any], return_outputs: bool = False,
                     num_items_in_batch: Any = None) -> Any:
        import torch
        import torch.nn.functional as F

        inputs = dict(inputs)
        labels = inputs.pop("labels")
        inputs.pop("length", None)  # only the length-grouped sampler reads it
        if model.training:
            mask = inputs.get("attention_mask")
            self.train_tokens += int(mask.sum()) if mask is not None else int(inputs["input_ids"].numel())
            if getattr(self.model.config, "is_encoder_decoder", False):
                self.train_tokens += int((labels != IGNORE_INDEX).sum())  # decoder tokens
        if getattr(self.model.config, "is_encoder_decoder", False):
            outputs = model(**inputs, labels=labels)
            loss = outputs.loss
            if num_items_in_batch is not None:
                loss = loss * (labels != IGNORE_INDEX).sum() / num_items_in_batch
            return (loss, outputs) if return_outputs else loss
        # Position i predicts token i+1: keep logits only at positions where some row has a label.
        targets = labels[:, 1:]
        keep = (targets != IGNORE_INDEX).any(dim=0).nonzero().squeeze(-1)
        head = self._head_for(inputs, keep)
        if head:
            outputs = self._forward_with_shared_head(model, inputs, keep, head)
        else:
            outputs = model(**inputs, logits_to_keep=keep)
        logits = outputs.logits.reshape(-1, outputs.logits.shape[-1])
        flat_targets = targets[:, keep].reshape(-1)
        loss_sum = F.cross_entropy(logits.float(), flat_targets, ignore_index=IGNORE_INDEX, reduction="sum")
        if num_items_in_batch is None:
            loss = loss_sum / (flat_targets != IGNORE_INDEX).sum().clamp(min=1)
        else:
            loss = loss_sum / num_items_in_batch
            if self.args.average_tokens_across_devices and self.accelerator.num_processes > 1:
                # num_items_in_batch is summed over processes; DDP averages gradients over them.
                loss = loss * self.accelerator.num_processes
        if return_outputs:
            return loss, outputs
        return loss if isinstance(loss, torch.Tensor) else torch.tensor(loss)

    def _head_for(self, inputs: dict[str, Any], keep: Any) -> int:
        """The shared head's length when this batch can use it: >1 row, identical unpadded heads,
        no packed positions, and every loss position after the head."""
        head, ids = self.shared_head, inputs["input_ids"]
        mask = inputs.get("attention_mask")
        if not head or ids.shape[0] < 2 or ids.shape[1] <= head or "position_ids" in inputs or mask is None:
            return 0
        if len(keep) == 0 or int(keep.min()) < head:
            return 0
        if not bool((ids[:, :head] == ids[:1, :head]).all()) or not bool(mask[:, :head].all()):
            return 0
        return head

    def _forward_with_shared_head(self, model: Any, inputs: dict[str, Any], keep: Any, head: int) -> Any:
        """Run the head once (batch 1), repeat its keys/values for every row, then run the tails."""
        from srllm.engine.prefix_cache import cache_kwarg

        ids, mask = inputs["input_ids"], inputs["attention_mask"]
        prefix = model(input_ids=ids[:1, :head], use_cache=True)
        cache = getattr(prefix, "cache", None) or prefix.past_key_values
        cache.batch_repeat_interleave(ids.shape[0])  # differentiable: the head's gradients add up
        self.shared_head_batches += 1
        return model(input_ids=ids[:, head:], attention_mask=mask, use_cache=True,
                     logits_to_keep=keep - head, **{cache_kwarg(): cache})


class StepTimer(TrainerCallback):
    """Wall time and non-padding tokens of each optimizer step (forward, backward, update).

    `count_tokens` returns the running token total of this process (read at each step's end).
    """

    def __init__(self, count_tokens: Any = None) -> None:
        self.count_tokens = count_tokens
        self.started: float | None = None
        self.tokens_at_start = 0
        self.durations: list[tuple[int, float]] = []
        self.tokens: list[int] = []

    def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.started is None:
            self.started = time.perf_counter()

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.started is not None:
            self.durations.append((state.global_step, time.perf_counter() - self.started))
            total = self.count_tokens() if self.count_tokens else 0
            self.tokens.append(total - self.tokens_at_start)
            self.tokens_at_start = total
        self.started = None


class RichProgress(TrainerCallback):
    """A rich progress bar with the latest train and dev loss (main process only)."""

    def __init__(self, description: str) -> None:
        self.description = description
        self.console: Any = None
        self.progress: Any = None
        self.task: Any = None
        self.last: dict[str, float] = {}

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if not state.is_world_process_zero:
            return
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.console = Console()
        if not self.console.is_terminal:
            return  # redirected (nohup, CI): on_log prints one plain line per log instead
        self.progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeRemainingColumn(), TextColumn("{task.fields[info]}"), transient=False)
        self.progress.start()
        self.task = self.progress.add_task(self.description, total=state.max_steps,
                                           completed=state.global_step, info="")

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, float] | None = None,
               **kwargs: Any) -> None:
        if not logs or not state.is_world_process_zero:
            return
        if self.progress is None:
            shown = {k: round(v, 4) for k, v in logs.items() if k in ("loss", "eval_loss", "grad_norm")}
            if shown:
                self.console.print(f"step {state.global_step}/{state.max_steps} {shown}")
            return
        for key in ("loss", "eval_loss"):
            if key in logs:
                self.last[key] = logs[key]
        info = "  ".join(f"{k.replace('_', ' ')} {v:.4f}" for k, v in self.last.items())
        self.progress.update(self.task, completed=state.global_step, info=info)

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.progress is not None:
            self.progress.update(self.task, completed=state.global_step)

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None
