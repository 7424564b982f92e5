"""The development sign-in: a token for whatever user id the visitor names.

Only for trying tickerdesk out: `tickerdesk up` (or `TICKERDESK_DEV_LOGIN=1`) includes this
router, and an `api` replica does not, so in production the path does not exist at all (404
for every method) and a token comes from the identity provider. The token is never an
admin one: funding and the simulator stay behind `tickerdesk token ops --admin`.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from pydantic import Field, field_validator

from tickerdesk.entrypoints.http.auth import issue_token, user_id_problem
from tickerdesk.entrypoints.http.jsonio import ExactJSONResponse, parse_model
from tickerdesk.entrypoints.http.limits import client_rate_limited
from tickerdesk.entrypoints.http.routes.common import settings_of
from tickerdesk.entrypoints.http.schemas import Strict

# Public (no token yet), so limited per client address like the quote board.
router = APIRouter(tags=["dev"], include_in_schema=False, dependencies=[Depends(client_rate_limited("public"))])
TOKEN_SECONDS = 12 * 3600  # a working day: a dev token outlives no session it was made for


class DevSignInIn(Strict):
    user_id: str = Field(alias="userId")

    @field_validator("user_id")
    @classmethod
    def _a_user_id(cls, value: str) -> str:
        if problem := user_id_problem(value):
            raise ValueError(problem)
        return value


def enabled(settings_dev_login: bool, jwt_secret: str | None) -> bool:
    """A dev sign-in needs the HS256 secret to sign with (an RS256 deployment has only a public key)."""
    return settings_dev_login and bool(jwt_secret)


@router.post("/dev/sign-in")
async def dev_sign_in(request: Request) -> ExactJSONResponse:
    """`{"userId": "alice"}` -> `{"userId": "alice", "token": "..."}`: a bearer token for that user."""
    settings = settings_of(request)
    body = await parse_model(request, DevSignInIn, settings.max_body_bytes)
    assert settings.jwt_secret, "the router is included only with a secret (see enabled)"
    token = issue_token(settings.jwt_secret, body.user_id, ttl_seconds=TOKEN_SECONDS)
    return ExactJSONResponse({"userId": body.user_id, "token": token})
