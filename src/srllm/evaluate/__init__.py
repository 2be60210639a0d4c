"""srllm.evaluate: the paper's experiments (`experiments/`), the evaluation datasets (`loaders`) and the
statistics behind the tables (`stats`). The scorers they use live one layer down, in `srllm.scorers`."""
