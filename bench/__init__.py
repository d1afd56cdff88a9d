"""Benchmarks: run as modules, e.g. `python -m bench.bench_engine_grpc`; never run as tests."""

import mesh_runtime.grpc_env  # noqa: F401 - before anything imports grpc (engine snapshots fork)
