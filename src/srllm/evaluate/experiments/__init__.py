"""The paper's experiments as a registry: `run_experiment("stereoset", {...})` -> run dir."""

from srllm.evaluate.experiments.base import (
    Experiment,
    ExperimentConfig,
    ExperimentResult,
    RunContext,
    Table,
    get_experiment,
    list_experiments,
    register_experiment,
)
from srllm.evaluate.experiments.runner import build_config, load_run, run_experiment

__all__ = [
    "Experiment",
    "ExperimentConfig",
    "ExperimentResult",
    "RunContext",
    "Table",
    "build_config",
    "get_experiment",
    "list_experiments",
    "load_run",
    "register_experiment",
    "run_experiment",
]
