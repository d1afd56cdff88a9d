"""A Lua script called on one Redis connection held out of the client's pool.

redis-py's per-call path (pool checkout, retry wrapper, a pipeline's MULTI/QUEUED/EXEC
replies read one by one) costs more CPU than the call itself for a small script: measured,
a journal append of two stream entries took ~127 µs of client CPU through a MULTI/EXEC
pipeline, ~89 µs packed by hand on a pooled connection, ~54 µs as one ``EVALSHA`` here.

The connection is the client's own (its address, credentials, TLS, timeouts), checked out
of its pool on first use and kept: the client's ``aclose()`` closes it with the rest.
One call at a time (callers send one at a time). ``EVALSHA``, then ``EVAL`` when the server
lacks the script (a restarted Redis). A failed or cancelled call drops the connection, so
an unread answer can never be taken for the next call's; the next call checks out another.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import NoScriptError

Arg = str | bytes | int | float


class DirectScript:
    def __init__(self, client: aioredis.Redis, script: str) -> None:
        self._pool = client.connection_pool
        self._script = script
        self._sha = hashlib.sha1(script.encode(), usedforsecurity=False).hexdigest()
        self._connection: Any = None

    async def __call__(self, keys: Sequence[str], args: Sequence[Arg]) -> Any:
        try:
            connection = self._connection
            if connection is None:
                connection = self._connection = await self._pool.get_connection()  # type: ignore[no-untyped-call]
            try:
                return await self._run(connection, "EVALSHA", self._sha, keys, args)
            except NoScriptError:
                return await self._run(connection, "EVAL", self._script, keys, args)
        except BaseException:
            await self.close()
            raise

    @staticmethod
    async def _run(connection: Any, command: str, script: str, keys: Sequence[str],
                   args: Sequence[Arg]) -> Any:
        await connection.send_packed_command(
            connection.pack_command(command, script, len(keys), *keys, *args),
            check_health=False)
        return await connection.read_response()

    async def close(self) -> None:
        """Drops the connection (the next call checks out another)."""
        connection, self._connection = self._connection, None
        if connection is not None:
            await connection.disconnect()
            await self._pool.release(connection)
