"""Entra ID Protection: risky users (``/identityProtection/riskyUsers`` list/get with
``IdentityRiskyUser.Read.All``; ``confirmCompromised`` and ``dismiss`` with
``IdentityRiskyUser.ReadWrite.All``, object ids only, no UPNs), sign-in logs and risk detections.
"""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator, Iterable
from datetime import datetime
from typing import Any

from prefect_defender.api.answers import read_model
from prefect_defender.api.catalog import endpoint
from prefect_defender.api.errors import ValidationError
from prefect_defender.api.models.identities import RiskDetection, RiskyUser, SignIn
from prefect_defender.api.odata import ODataFilter
from prefect_defender.api.paging import as_models, collect, iterate_next_link
from prefect_defender.api.resources.base import Resource
from prefect_defender.api.validation import (
    check_items,
    check_user_ref,
)

__all__ = [
    "MAX_USER_IDS",
    "RISK_LEVELS",
    "RISK_STATES",
    "RiskDetectionsAPI",
    "RiskyUsersAPI",
    "SignInsAPI",
    "check_limit",
]

#: documented riskLevel and riskState values (riskyUser resource), for filters
RISK_LEVELS = ("low", "medium", "high", "hidden", "none")
RISK_STATES = (
    "none",
    "confirmedSafe",
    "remediated",
    "dismissed",
    "atRisk",
    "confirmedCompromised",
)
_RISK_FILTER = ODataFilter(("riskLevel", "riskState"))
_USER_FILTER = ODataFilter(("userId", "userPrincipalName", "createdDateTime"))
#: ids per confirmCompromised/dismiss request: the pages document no maximum, so long lists
#: are sent in batches of this size to bound each request
MAX_USER_IDS = 60


def check_limit(limit: int | None) -> int | None:
    """``limit`` when it is ``None`` or a non-negative integer."""
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise ValidationError("limit: a non-negative integer", field="limit")
    return limit


class RiskyUsersAPI(Resource):
    """Identity Protection risky users."""

    def iterate(
        self,
        *,
        risk_level: str | None = None,
        risk_state: str | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[RiskyUser]:
        """Risky users, optionally filtered by ``risk_level`` / ``risk_state``."""
        parts: builtins.list[str | None] = []
        if risk_level is not None:
            if risk_level not in RISK_LEVELS:
                raise ValidationError(
                    f"risk_level: {str(risk_level)[:40]!r} is not one of {', '.join(RISK_LEVELS)}",
                    field="risk_level",
                )
            parts.append(_RISK_FILTER.eq("riskLevel", risk_level))
        if risk_state is not None:
            if risk_state not in RISK_STATES:
                raise ValidationError(
                    f"risk_state: {str(risk_state)[:40]!r} is not one of {', '.join(RISK_STATES)}",
                    field="risk_state",
                )
            parts.append(_RISK_FILTER.eq("riskState", risk_state))
        flt = ODataFilter.and_(*parts)
        return as_models(
            RiskyUser,
            iterate_next_link(
                self.transport,
                endpoint("graph.risky_users.list"),
                params={"$filter": flt} if flt else None,
                limit=check_limit(limit),
            ),
            "graph.risky_users.list",
        )

    async def list(self, **kw: Any) -> builtins.list[RiskyUser]:
        """All of :meth:`iterate` as a list."""
        return await collect(self.iterate(**kw))

    async def get(self, user_id: str) -> RiskyUser:
        """One risky user by the user's object id."""
        uid = check_user_ref(user_id, "user_id", upn=False)
        body = await self.transport.request_json(
            endpoint("graph.risky_users.get"), path_params={"id": uid}
        )
        return read_model(RiskyUser, body, "graph.risky_users.get")

    async def confirm_compromised(self, user_ids: Iterable[str]) -> None:
        """Mark users compromised (their risk becomes high; 204)."""
        await self._post_ids("graph.risky_users.confirm_compromised", user_ids)

    async def dismiss(self, user_ids: Iterable[str]) -> None:
        """Dismiss users' risk (204)."""
        await self._post_ids("graph.risky_users.dismiss", user_ids)

    async def _post_ids(self, name: str, user_ids: Iterable[str]) -> None:
        ids = check_items(user_ids, lambda v, f: check_user_ref(v, f, upn=False), "user_ids")
        if not ids:
            raise ValidationError("user_ids: at least one user id", field="user_ids")
        for start in range(0, len(ids), MAX_USER_IDS):
            await self.transport.request(
                endpoint(name), json={"userIds": ids[start : start + MAX_USER_IDS]}, idempotent=True
            )


def _user_filter(user: str | None) -> str | None:
    if user is None:
        return None
    ref = check_user_ref(user, "user")
    if "@" in ref:
        return _USER_FILTER.eq("userPrincipalName", ref)
    return _USER_FILTER.eq("userId", ref)


class SignInsAPI(Resource):
    """Entra ID sign-in logs (``AuditLog.Read.All``; needs an Entra ID P1/P2 licence)."""

    def iterate(
        self,
        *,
        user: str | None = None,
        since: datetime | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[SignIn]:
        """Sign-ins, newest first, optionally of one user (object id or UPN) since a time."""
        if since is not None and not isinstance(since, datetime):
            raise ValidationError("since: a datetime", field="since")
        flt = ODataFilter.and_(
            _user_filter(user), _USER_FILTER.window("createdDateTime", since, None)
        )
        # the list page documents $top, $skiptoken and $filter and answers newest first, so no
        # $orderby is sent (https://learn.microsoft.com/graph/api/signin-list)
        params: dict[str, Any] = {}
        if flt:
            params["$filter"] = flt
        return as_models(
            SignIn,
            iterate_next_link(
                self.transport,
                endpoint("graph.sign_ins.list"),
                params=params or None,
                limit=check_limit(limit),
            ),
            "graph.sign_ins.list",
        )

    async def list(self, **kw: Any) -> builtins.list[SignIn]:
        """All of :meth:`iterate` as a list."""
        return await collect(self.iterate(**kw))


class RiskDetectionsAPI(Resource):
    """Identity Protection risk detections (``IdentityRiskEvent.Read.All``)."""

    def iterate(
        self, *, user: str | None = None, limit: int | None = None
    ) -> AsyncIterator[RiskDetection]:
        """Risk detections, optionally of one user (object id or UPN)."""
        flt = _user_filter(user)
        return as_models(
            RiskDetection,
            iterate_next_link(
                self.transport,
                endpoint("graph.risk_detections.list"),
                params={"$filter": flt} if flt else None,
                limit=check_limit(limit),
            ),
            "graph.risk_detections.list",
        )

    async def list(self, **kw: Any) -> builtins.list[RiskDetection]:
        """All of :meth:`iterate` as a list."""
        return await collect(self.iterate(**kw))
