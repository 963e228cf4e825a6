"""The triage vocabulary and body checks shared by the alert and incident update routes.

Classifications and determinations (MDE/XDR PascalCase, Graph camelCase), Graph comment bodies
and the answer to a Graph comment; body field names are case-sensitive, as documented: an
unknown or wrongly cased field is a 400.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.responses import JSONResponse

from prefect_defender.emulator.guard import ApiError
from prefect_defender.emulator.seed import iso

#: determinations allowed per classification. Microsoft's pages spell some values two ways
#: (update-alert: ConfirmedActivity/NotMalicious; alerts.md and batch-update: ConfirmedUserActivity/
#: Clean/InsufficientData; the XDR PATCH page: CompromisedAccount/NoEnoughDataToValidate), so
#: both are accepted. The XDR page also says "determination only if classification is
#: TruePositive" while grouping determinations under all three classifications: the grouping
#: is what is enforced.
CLASSIFICATION_GROUPS: dict[str, set[str]] = {
    "TruePositive": {
        "MultiStagedAttack",
        "MaliciousUserActivity",
        "CompromisedUser",
        "CompromisedAccount",
        "Malware",
        "Phishing",
        "UnwantedSoftware",
        "Apt",
        "SecurityPersonnel",
        "Other",
    },
    "InformationalExpectedActivity": {
        "SecurityTesting",
        "LineOfBusinessApplication",
        "ConfirmedUserActivity",
        "ConfirmedActivity",
        "Other",
    },
    "FalsePositive": {
        "Clean",
        "NotMalicious",
        "InsufficientData",
        "NoEnoughDataToValidate",
        "Other",
    },
    "Unknown": {"NotAvailable"},
}
GRAPH_CLASSIFICATIONS = {
    "unknown",
    "falsePositive",
    "truePositive",
    "informationalExpectedActivity",
    "unknownFutureValue",
}
#: Graph determinations: the resource page's and the update page's spellings
GRAPH_DETERMINATIONS = {
    "unknown",
    "apt",
    "malware",
    "securityPersonnel",
    "securityTesting",
    "unwantedSoftware",
    "other",
    "multiStagedAttack",
    "compromisedUser",
    "compromisedAccount",
    "phishing",
    "maliciousUserActivity",
    "clean",
    "notMalicious",
    "insufficientData",
    "notEnoughDataToValidate",
    "confirmedUserActivity",
    "confirmedActivity",
    "lineOfBusinessApplication",
    "unknownFutureValue",
}
ALERT_COMMENT_TYPES = {
    "microsoft.graph.security.alertComment",
    "#microsoft.graph.security.alertComment",
}


def now_iso() -> str:
    """The current time as Defender writes it."""
    return iso(datetime.now(UTC))


def upper_first(v: str) -> str:
    """``truePositive`` -> ``TruePositive`` (Graph value to the stored MDE/XDR value)."""
    return v[:1].upper() + v[1:]


def check_fields(body: dict[str, Any], allowed: set[str], code: str = "InvalidRequestBody") -> None:
    """400 for a field that is not documented for the operation (names are case-sensitive)."""
    for key in body:
        if key not in allowed:
            raise ApiError(400, code, f"Request body is incorrect: unknown parameter '{key}'.")


def check_string(body: dict[str, Any], key: str, code: str = "InvalidRequestBody") -> None:
    """400 unless ``body[key]`` (when present) is a string or null."""
    if key in body and body[key] is not None and not isinstance(body[key], str):
        raise ApiError(400, code, f"'{key}' must be a string.")


def check_triage(body: dict[str, Any], target: dict[str, Any]) -> None:
    """MDE/XDR classification and determination: known values, determination in its group."""
    c = body.get("classification")
    d = body.get("determination")
    if c is not None and c not in CLASSIFICATION_GROUPS:
        raise ApiError(400, "InvalidRequestBody", f"Invalid classification '{c}'.")
    if d is not None:
        group = c or target.get("classification") or "Unknown"
        if d not in CLASSIFICATION_GROUPS.get(group, set()):
            raise ApiError(
                400,
                "InvalidRequestBody",
                f"Determination '{d}' is not valid with classification '{group}'.",
            )


def graph_value(body: dict[str, Any], key: str, allowed: set[str] | dict[str, str]) -> str | None:
    """A Graph enum value from ``body`` as camelCase; the PascalCase of the docs' own PATCH
    example (``"TruePositive"``) is accepted too. 400 ``BadRequest`` otherwise."""
    if key not in body or body[key] is None:
        return None
    raw = body[key]
    if isinstance(raw, str):
        value = raw[:1].lower() + raw[1:]
        if value in allowed:
            return value
    raise ApiError(400, "BadRequest", f"Invalid value '{raw}' for '{key}'.")


def graph_triage(
    body: dict[str, Any], statuses: set[str] | dict[str, str]
) -> tuple[str | None, str | None, str | None]:
    """``(status, classification, determination)`` of a Graph PATCH body, each checked with
    :func:`graph_value` (``None`` where not given)."""
    return (
        graph_value(body, "status", statuses),
        graph_value(body, "classification", GRAPH_CLASSIFICATIONS),
        graph_value(body, "determination", GRAPH_DETERMINATIONS),
    )


def graph_comment_text(body: dict[str, Any]) -> str:
    """The comment of a Graph ``alertComment`` body (``@odata.type`` optional but checked)."""
    check_fields(body, {"@odata.type", "comment"}, "BadRequest")
    kind = body.get("@odata.type")
    if kind is not None and kind not in ALERT_COMMENT_TYPES:
        raise ApiError(400, "BadRequest", f"Invalid @odata.type '{kind}'.")
    text = body.get("comment")
    if not isinstance(text, str) or not text.strip():
        raise ApiError(400, "BadRequest", "The comment must be a non-empty string.")
    return text


def graph_comments(collection: str, key: str | int, comments: list[dict[str, Any]]) -> JSONResponse:
    """The answer to a Graph comment: every comment of ``security/<collection>('<key>')``."""
    return JSONResponse(
        {
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#security/"
            f"{collection}('{key}')/comments",
            "value": comments,
        }
    )
