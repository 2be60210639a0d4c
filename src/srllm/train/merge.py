"""Merging moved to `srllm.models.merge` (the llama.cpp engine, below training, exports merged GGUFs too);
these names stay importable from here."""

from srllm.models.merge import MergeResult, adapter_base, export_gguf, find_converter, merge_adapter

__all__ = ["MergeResult", "adapter_base", "export_gguf", "find_converter", "merge_adapter"]
