"""Running srllm beyond one process: the Ray Data engine for very large rewrite jobs."""
