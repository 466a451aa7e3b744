"""Benchmarks, run through ``coffer bench …``; each reports ratios to limits measured in-run."""
