"""Built-in models: one module per model; add a model with one file and one import line."""

from srllm.models.zoo import (  # noqa: F401
    jigsaw_toxicity,
    llama32_1b_instruct,
    qwen25_coder_05b_instruct,
    qwen25_coder_15b_instruct,
    smollm2_135m_instruct,
)
