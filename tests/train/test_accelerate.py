"""The same command scales out under `accelerate launch` (DDP); proven on CPU with 2 processes.

accelerate 1.x starts one process for `--cpu --num_processes 2` unless mpirun is configured
(its simple launcher); `--multi_gpu` uses the torchrun launcher, and on a machine without GPUs the
Trainer (use_cpu) then runs DistributedType.MULTI_CPU over gloo: two real DDP processes.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest


def test_two_process_ddp_run(tiny_llama_dir, pairs_jsonl, tmp_path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("the CPU DDP proof runs on CPU-only machines (with GPUs this launches on them)")
    accelerate = Path(sys.executable).with_name("accelerate")
    launcher = [str(accelerate)] if accelerate.exists() else [shutil.which("accelerate") or "accelerate"]
    out = tmp_path / "ddp"
    cmd = [*launcher, "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
           "--main_process_port", str(29500 + os.getpid() % 1000), "--mixed_precision", "no",
           "--dynamo_backend", "no", "-m", "srllm.cli.train", "train", "--method", "lora",
           "--base", str(tiny_llama_dir), "--data", str(pairs_jsonl), "--out", str(out), "--batch-size", "2",
           "--max-steps", "3", "--save-steps", "3", "--lr", "0.01", "--set", "r=4", "--no-energy"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["processes"] == 2
    assert manifest["global_step"] == 3
    assert (out / "adapter_model.safetensors").is_file()
