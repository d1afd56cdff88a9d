"""Who may call a route: the gateway's own token check, before anything goes upstream.

Routes take their rule from the rpc's ``call_policy`` (:mod:`gateway.routes`): a route
that is not public needs a valid, unrevoked bearer token (else 401 with
``WWW-Authenticate``); an admin-only one needs the admin role (else 403). The
signature is checked first, without I/O (:meth:`Access.identify`), so the rate limiter can
charge the user; the revocation set is asked only for routes that need the token.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.errors import GatewayError
from gateway.routes import Route
from mesh_runtime.revocation import RevocationUnavailable, TokenCheck
from mesh_runtime.tokens import Claims, InvalidToken, bearer_token


@dataclass(frozen=True, slots=True)
class Identity:
    """The presented token's claims (signature and claims valid), or why there are none."""

    claims: Claims | None
    problem: str = ""


class Access:
    def __init__(self, check: TokenCheck) -> None:
        self.check = check

    def identify(self, authorization: str | None) -> Identity:
        try:
            return Identity(self.check.verifier.verify(bearer_token(authorization)))
        except InvalidToken as err:
            return Identity(None, str(err))

    async def authorize(self, route: Route, identity: Identity) -> Claims | None:
        """The caller's claims for a non-public route (None for a public one)."""
        if route.public:
            return None
        claims = identity.claims
        if claims is None:
            raise unauthorized(identity.problem)
        try:
            await self.check.check(claims)
        except InvalidToken as err:
            raise unauthorized(str(err)) from None
        except RevocationUnavailable:
            raise GatewayError(503, "UNAVAILABLE", "cannot check the token now; try again",
                               headers={"Retry-After": "1"}) from None
        if route.admin_only and not claims.admin:
            raise GatewayError(403, "PERMISSION_DENIED", f"{route.name} needs the admin role")
        return claims


def unauthorized(reason: str) -> GatewayError:
    return GatewayError(401, "UNAUTHENTICATED", reason or "a bearer token is required",
                        headers={"WWW-Authenticate": 'Bearer realm="trademesh"'})
