"""The engine layer: what turns texts into rewrites on a model, below the guard and the service.

The local `Rewriter` (prompts -> batched decoding -> cleaned answers), the continuous-batching decode
loop and the shared prompt-head cache it runs on, and the llama.cpp and OpenAI-compatible engines.
"""
