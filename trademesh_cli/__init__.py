"""The ``trademesh`` command: the whole mesh (``up``), one service, and the tools around it."""
