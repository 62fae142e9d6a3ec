"""Bearer-token auth for /api/*: one shared secret, compared in constant time."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Any

from fastapi import Depends, HTTPException, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

_bearer = HTTPBearer(auto_error=False, description="`Authorization: Bearer <FINSENT_API__TOKEN>`")

UNAUTHORIZED: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing or wrong bearer token"}
}


def require_token(token: str) -> Callable[[HTTPAuthorizationCredentials | None], None]:
    """A dependency that lets a request through only with `Authorization: Bearer <token>`."""
    expected = token.encode()

    def check(credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> None:
        given = credentials.credentials.encode() if credentials is not None else b""
        if not hmac.compare_digest(given, expected):
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "missing or wrong bearer token",
                headers={"WWW-Authenticate": "Bearer"},
            )

    return check
