"""Benchmarks (run by scripts/bench); kept out of the bridge package."""
