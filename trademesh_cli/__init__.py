"""The ``trademesh`` command: the whole mesh (``up``), one service, and the tools around it."""

import mesh_runtime.grpc_env  # noqa: F401 - before anything imports grpc
