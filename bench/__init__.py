"""Benchmarks: rerunnable scripts that measure the app against the naive approaches."""
