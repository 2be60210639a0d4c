"""Importing this module registers the paper's experiments (one decorator line in each module)."""

from srllm.evaluate.experiments import human, jobs, methods, stereoset, style, toxigen_groups  # noqa: F401
