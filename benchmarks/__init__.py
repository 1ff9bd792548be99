"""Benchmarks, run with ``make bench`` (``python -m benchmarks``). Not tests: they measure."""
