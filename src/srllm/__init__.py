"""srllm: Safe and Responsible LLM toolkit (arXiv 2404.01399)."""

__version__ = "0.1.0"
