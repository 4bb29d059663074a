"""Fakes at the network edge (a local OpenAI-protocol server) for tests and benchmarks."""
