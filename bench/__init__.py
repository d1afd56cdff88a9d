"""Benchmarks: run as modules, e.g. `python -m bench.bench_engine_grpc`; never run as tests."""
