from srllm.models.registry import ModelSpec, register_model

# The paper's base model family (SR-LLM fine-tunes Llama-2/3 chat models); gated on the hub.
register_model(ModelSpec(
    name="llama-3.2-1b-instruct",
    description="Meta Llama-3.2-1B-Instruct from the Hugging Face hub (needs network and an accepted license).",
    license="Llama 3.2 Community License",
    source="hub",
    hub_id="meta-llama/Llama-3.2-1B-Instruct",
    revision="main",
    context_length=131072,
    chat_template_notes="Llama 3 header template from the repository's tokenizer_config.json.",
    tags=("hub", "paper"),
))
