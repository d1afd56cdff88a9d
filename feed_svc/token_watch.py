"""How long an authenticated subscription may go on: until its token expires or is revoked.

AUTH (WebSocket) and the metadata token of a ``user`` subscription (gRPC) are checked once
when they arrive; :func:`until_invalid` then watches the token for the rest of the
connection: at its expiry, to the second, and for revocation (logout) every
``recheck_seconds``. A revocation check that cannot be made now is tried again at the next
check: the private stream is not cut by a short Redis outage (AUTH itself fails closed).
"""

from __future__ import annotations

import asyncio
import time

from mesh_runtime.revocation import RevocationUnavailable, TokenCheck
from mesh_runtime.tokens import Claims, InvalidToken


async def until_invalid(check: TokenCheck, claims: Claims, recheck_seconds: float) -> str:
    """Returns why ``claims``' token stopped being valid (runs until then)."""
    while True:
        left = claims.expires_at - time.time()
        if left <= 0:
            return "the token has expired"
        await asyncio.sleep(min(left, recheck_seconds))
        if time.time() >= claims.expires_at:
            continue
        try:
            await check.check(claims)
        except InvalidToken as err:
            return str(err)
        except RevocationUnavailable:
            continue
