"""Running one run: the runner, the training loop, the updates' inputs, checkpoints, the clock, the backend registry, throughput and parity tools."""
