"""Text rules shared by every layer: what a fact is (facts), what meta text is (meta), how a file of
rows is read and written (readers, writers).

Torch-free and below every other srllm package: it imports only the standard library, srllm.errors,
srllm.lines and, on first use, scikit-learn's English stop-word list."""
