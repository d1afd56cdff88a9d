"""The Engine's trigger rpcs (``ListTriggers``, ``PlaceTrigger``, ``MoveTrigger``,
``CancelTrigger``): convert the request, submit the command, convert the armed trigger.

Each method answers a response message or raises :class:`~engine_svc.errors.DomainError`
(the servicer aborts the call with it). A user only ever sees and touches their own
triggers: another user's trigger id answers NOT_FOUND, like a missing one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from trademesh.v1 import engine_pb2

from engine_svc import errors, trigger_codec
from engine_svc.core.commands import CancelTrigger, Command
from engine_svc.core.enums import RejectReason
from engine_svc.core.events import Event, OrderRejected, TriggerPlaced
from engine_svc.core.reads import TriggerView
from engine_svc.core.units import ValidationError
from engine_svc.order_views import OrderRecord
from engine_svc.request_codec import position_id
from engine_svc.sequencer import EngineUnavailable, Sequencer


class TriggerCalls:
    def __init__(self, sequencer: Sequencer, clock_ms: Callable[[], int]) -> None:
        self._seq, self._clock = sequencer, clock_ms

    def _proto(self, view: TriggerView, user: str) -> Any:
        return trigger_codec.trigger(view, self._seq.config.markets[view.market], user)

    async def _submit(self, command: Command,
                      render: Callable[[list[Event], list[OrderRecord]], Any]) -> Any:
        try:
            result = await self._seq.submit(command, render)
        except EngineUnavailable as err:
            raise errors.unavailable(str(err)) from err
        if isinstance(result, errors.DomainError):
            raise result
        return result

    def _owned(self, user: str, raw_id: str) -> TriggerView:
        try:
            tid = trigger_codec.trigger_id(raw_id)
        except ValidationError:
            raise errors.rejection(RejectReason.TRIGGER_NOT_FOUND) from None
        view = self._seq.engine.trigger(user, tid)
        if view is None:
            raise errors.rejection(RejectReason.TRIGGER_NOT_FOUND)
        return view

    def list(self, request: engine_pb2.ListTriggersRequest,
             user: str) -> engine_pb2.ListTriggersResponse:
        if request.market:
            try:
                trigger_codec.perp_spec(self._seq.config, request.market)
            except ValidationError as err:
                raise errors.invalid(err) from None
        return engine_pb2.ListTriggersResponse(triggers=[
            self._proto(v, user) for v in self._seq.engine.triggers(user)
            if not request.market or v.market == request.market])

    async def place(self, request: engine_pb2.PlaceTriggerRequest,
                    user: str) -> engine_pb2.PlaceTriggerResponse:
        try:
            size = self._seq.engine.position_size(user, request.market,
                                                  position_id(request.position_id))
            command = trigger_codec.place_trigger(request, self._seq.config, user, size,
                                                  self._clock())
        except ValidationError as err:
            raise errors.invalid(err) from None

        def render(events: list[Event], _: list[OrderRecord]) -> Any:
            for event in events:
                if isinstance(event, OrderRejected):
                    return errors.rejection(event.reason)
                if isinstance(event, TriggerPlaced):
                    view = self._seq.engine.trigger(user, event.trigger_id)
                    assert view is not None
                    return engine_pb2.PlaceTriggerResponse(trigger=self._proto(view, user))
            raise AssertionError("a trigger placed without TriggerPlaced")

        return await self._submit(command, render)  # type: ignore[no-any-return]

    async def move(self, request: engine_pb2.MoveTriggerRequest,
                   user: str) -> engine_pb2.MoveTriggerResponse:
        armed = self._owned(user, request.trigger_id)
        try:
            command = trigger_codec.move_trigger(
                request, self._seq.config.markets[armed.market], user, armed, self._clock())
        except ValidationError as err:
            raise errors.invalid(err) from None

        def render(events: list[Event], _: list[OrderRecord]) -> Any:
            rejected = next((e for e in events if isinstance(e, OrderRejected)), None)
            if rejected is not None:
                return errors.rejection(rejected.reason)
            view = self._seq.engine.trigger(user, armed.trigger_id)
            assert view is not None
            return engine_pb2.MoveTriggerResponse(trigger=self._proto(view, user))

        return await self._submit(command, render)  # type: ignore[no-any-return]

    async def cancel(self, request: engine_pb2.CancelTriggerRequest,
                     user: str) -> engine_pb2.CancelTriggerResponse:
        armed = self._owned(user, request.trigger_id)
        command = CancelTrigger(user_id=user, trigger_id=armed.trigger_id, ts=self._clock())

        def render(events: list[Event], _: list[OrderRecord]) -> Any:
            rejected = next((e for e in events if isinstance(e, OrderRejected)), None)
            if rejected is not None:
                return errors.rejection(rejected.reason)
            return engine_pb2.CancelTriggerResponse(trigger=self._proto(armed, user))

        return await self._submit(command, render)  # type: ignore[no-any-return]
