"""The engine says which core build it runs: in its log and in GetEngineStatus."""

from __future__ import annotations

import logging

import pytest
from trademesh.v1 import engine_pb2

from engine_svc.app import log_core_build
from engine_svc.core_build import core_build
from tests.service.engine.conftest import EngineHarness


def test_start_logs_the_core_build(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="trademesh.engine"):
        assert log_core_build() == core_build()
    assert f"matching core: {core_build()}" in caplog.text


async def test_engine_status_reports_the_core_build(harness: EngineHarness) -> None:
    status = await harness.stub.GetEngineStatus(engine_pb2.GetEngineStatusRequest(),
                                                metadata=harness.admin())
    assert status.core_build == core_build()
    assert status.max_open_orders == 200
