"""``geoseek bench``: retrieval benchmarks run through the real index and search engine."""
from geoseek.bench.recall import BenchError, recall_benchmark

__all__ = ["BenchError", "recall_benchmark"]
