"""The OpenAI-compatible surface, split like vLLM's: `protocol` (request and response bodies),
`serving` (what a request does with the engine), `serve/routers/openai.py` (the routes)."""
