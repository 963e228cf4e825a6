"""Indicators of compromise (Defender for Endpoint ``/api/indicators``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic import ValidationError as PydanticValidationError

from prefect_defender.api.errors import ValidationError
from prefect_defender.api.models.common import DefenderModel
from prefect_defender.api.validation import (
    check_choice,
    check_comment,
    check_domain,
    check_hash,
    check_ip,
    check_url,
)

__all__ = [
    "BATCH",
    "LEGACY_ACTIONS",
    "Indicator",
    "IndicatorAction",
    "IndicatorInput",
    "IndicatorSeverity",
    "IndicatorType",
    "coerce_indicators",
]


class IndicatorType(StrEnum):
    """What an indicator's value is."""

    FILE_SHA1 = "FileSha1"
    FILE_SHA256 = "FileSha256"
    FILE_MD5 = "FileMd5"
    CERTIFICATE_THUMBPRINT = "CertificateThumbprint"
    IP_ADDRESS = "IpAddress"
    DOMAIN_NAME = "DomainName"
    URL = "Url"


class IndicatorAction(StrEnum):
    """Actions accepted when submitting. ``Alert``/``AlertAndBlock`` are deprecated (Jan 2022):
    they may still appear on read (open strings) but are refused on write."""

    ALLOWED = "Allowed"
    AUDIT = "Audit"
    BLOCK = "Block"
    BLOCK_AND_REMEDIATE = "BlockAndRemediate"
    WARN = "Warn"


class IndicatorSeverity(StrEnum):
    """Indicator severity."""

    INFORMATIONAL = "Informational"
    LOW = "Low"
    MEDIUM = "Medium"
    HIGH = "High"


#: deprecated actions (Jan 2022) -> the documented action to use instead
LEGACY_ACTIONS = {
    "Alert": "Audit (with generate_alert=True)",
    "AlertAndBlock": "Block (with generate_alert=True to keep the alert)",
}


def _as_our_error(exc: PydanticValidationError) -> ValidationError:
    """Our :class:`ValidationError` with pydantic's messages, minus its decoration."""
    parts = []
    for err in exc.errors():
        msg = str(err.get("msg", "")).removeprefix("Value error, ").removeprefix("InvalidInput: ")
        loc = ".".join(str(x) for x in err.get("loc", ()))
        parts.append(f"{loc}: {msg}" if loc and not msg.startswith(loc) else msg)
    return ValidationError("; ".join(parts) or str(exc), field="indicator")


def check_indicator_value(kind: IndicatorType, value: Any, field: str = "value") -> str:
    """``value`` normalised for ``kind``, or a :class:`ValidationError` naming the mismatch."""
    if kind is IndicatorType.FILE_SHA1 or kind is IndicatorType.CERTIFICATE_THUMBPRINT:
        return check_hash(value, field, ("sha1",))
    if kind is IndicatorType.FILE_SHA256:
        return check_hash(value, field, ("sha256",))
    if kind is IndicatorType.FILE_MD5:
        return check_hash(value, field, ("md5",))
    if kind is IndicatorType.IP_ADDRESS:
        if isinstance(value, str) and "/" in value:
            raise ValidationError(
                f"{field}: CIDR ranges are not supported by Defender indicators", field=field
            )
        return check_ip(value, field)
    if kind is IndicatorType.DOMAIN_NAME:
        return check_domain(value, field)
    return check_url(value, field)


class IndicatorInput(BaseModel):
    """An indicator to submit, validated before anything is sent.

    Examples:
        >>> IndicatorInput(value="203.0.113.66", type="IpAddress", action="Block",
        ...                title="C2", description="From IR-7").to_api()["indicatorType"]
        'IpAddress'
    """

    model_config = ConfigDict(extra="forbid")

    value: str = Field(description="The indicator value (hash, IP, domain, URL, thumbprint).")
    type: IndicatorType
    action: IndicatorAction
    title: str
    description: str
    expiration_time: datetime | None = None
    severity: IndicatorSeverity | None = None
    recommended_actions: str | None = None
    rbac_group_names: list[str] | None = None
    generate_alert: bool | None = None
    application: str | None = None
    educate_url: str | None = None

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except PydanticValidationError as exc:
            raise _as_our_error(exc) from None

    @model_validator(mode="before")
    @classmethod
    def _checks(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        action = data.get("action")
        if isinstance(action, str) and action in LEGACY_ACTIONS:
            raise ValidationError(
                f"action: {action!r} is deprecated since January 2022; use "
                f"{LEGACY_ACTIONS[action]}",
                field="action",
            )
        out = dict(data)
        kind = check_choice(out.get("type"), IndicatorType, "type")
        out["type"] = kind
        out["action"] = check_choice(action, IndicatorAction, "action")
        out["value"] = check_indicator_value(kind, out.get("value"))
        for f in ("title", "description"):
            text = check_comment(out.get(f, ""), f, 4000)
            if not text:
                raise ValidationError(f"{f}: required", field=f)
            out[f] = text
        if out.get("severity") is not None:
            out["severity"] = check_choice(out["severity"], IndicatorSeverity, "severity")
        if out["action"] is IndicatorAction.AUDIT and out.get("generate_alert") is not True:
            raise ValidationError(
                "generate_alert: must be True for the Audit action", field="generate_alert"
            )
        exp = out.get("expiration_time")
        if exp is not None:
            if isinstance(exp, str):
                text = exp
                try:
                    exp = datetime.fromisoformat(text.replace("Z", "+00:00"))
                except ValueError:
                    raise ValidationError(
                        f"expiration_time: {text[:40]!r} is not an ISO 8601 date and time",
                        field="expiration_time",
                    ) from None
            if not isinstance(exp, datetime) or exp.tzinfo is None:
                raise ValidationError(
                    "expiration_time: a timezone-aware datetime", field="expiration_time"
                )
            if exp <= datetime.now(UTC):
                raise ValidationError(
                    "expiration_time: must be in the future", field="expiration_time"
                )
            out["expiration_time"] = exp
        if out.get("educate_url") is not None:
            out["educate_url"] = check_url(out["educate_url"], "educate_url")
        groups = out.get("rbac_group_names")
        if groups is not None and (
            isinstance(groups, str) or not all(isinstance(g, str) and g for g in groups)
        ):
            raise ValidationError(
                "rbac_group_names: a list of device group names", field="rbac_group_names"
            )
        for f in ("recommended_actions", "application"):
            if out.get(f) is not None:
                out[f] = check_comment(out[f], f, 4000)
        return out

    def to_api(self) -> dict[str, Any]:
        """The request body (documented, case-sensitive field names)."""
        body: dict[str, Any] = {
            "indicatorValue": self.value,
            "indicatorType": self.type.value,
            "action": self.action.value,
            "title": self.title,
            "description": self.description,
        }
        if self.expiration_time is not None:
            body["expirationTime"] = self.expiration_time.astimezone(UTC).strftime(
                "%Y-%m-%dT%H:%M:%SZ"
            )
        if self.severity is not None:
            body["severity"] = self.severity.value
        optional = {
            "recommendedActions": self.recommended_actions,
            "rbacGroupNames": self.rbac_group_names,
            "generateAlert": self.generate_alert,
            "application": self.application,
            "educateUrl": self.educate_url,
        }
        body.update({k: v for k, v in optional.items() if v is not None})
        return body

    @property
    def key(self) -> tuple[str, str]:
        """``(type, value)``: Defender creates or updates by this pair."""
        return (self.type.value, self.value.lower())


class Indicator(DefenderModel):
    """A stored indicator (``action`` is an open string: legacy values may appear)."""

    id: str
    indicator_value: str | None = None
    indicator_type: str | None = None
    action: str | None = None
    title: str | None = None
    description: str | None = None
    severity: str | None = None
    application: str | None = None
    source: str | None = None
    source_type: str | None = None
    created_by: str | None = None
    created_by_display_name: str | None = None
    creation_time_date_time_utc: datetime | None = None
    expiration_time: datetime | None = None
    last_update_time: datetime | None = None
    recommended_actions: str | None = None
    rbac_group_names: list[str] = []
    rbac_group_ids: list[str | int] = []
    generate_alert: bool | None = None
    educate_url: str | None = None
    created_by_source: str | None = None
    last_updated_by: str | None = None
    # ti-indicator.md spells it ``externalID``; camelCase ``externalId`` is accepted too
    external_id: str | None = Field(
        default=None, validation_alias=AliasChoices("externalID", "externalId")
    )

    @field_validator("id", mode="before")
    @classmethod
    def _id_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) else value

    @field_validator("rbac_group_names", "rbac_group_ids", mode="before")
    @classmethod
    def _group_list(cls, value: Any) -> Any:
        # post-ti-indicator.md describes rbacGroupNames as a comma-separated string while every
        # example (and ti-indicator.md) uses a JSON list: accept both, keep a list
        if value is None:
            return []
        if isinstance(value, str):
            return [v.strip() for v in value.split(",") if v.strip()]
        return value

    @property
    def key(self) -> tuple[str, str]:
        """``(type, value)`` as Defender matches indicators (value case-insensitive)."""
        return (str(self.indicator_type or ""), str(self.indicator_value or "").lower())

    @property
    def uses_legacy_action(self) -> bool:
        """True for the deprecated ``Alert``/``AlertAndBlock`` actions (re-submit to migrate)."""
        return self.action in LEGACY_ACTIONS


#: documented maximum of indicators per import call and of ids per BatchDelete call
BATCH = 500


def coerce_indicators(items: Sequence[IndicatorInput | dict[str, Any]]) -> list[IndicatorInput]:
    """Validate every item; one error names every invalid index (nothing is sent)."""
    if isinstance(items, str | bytes | dict) or not isinstance(items, Sequence):
        raise ValidationError("indicators: expected a list", field="indicators")
    out: list[IndicatorInput] = []
    problems: list[str] = []
    for i, item in enumerate(items):
        try:
            if isinstance(item, IndicatorInput):
                out.append(item)
            elif isinstance(item, dict):
                out.append(IndicatorInput(**item))
            else:
                raise ValidationError(f"expected a mapping, got {type(item).__name__}")
        except (ValidationError, ValueError, TypeError) as exc:
            text = exc.message if isinstance(exc, ValidationError) else str(exc)
            problems.append(f"[{i}] {text}")
    if problems:
        shown = "; ".join(problems[:20]) + (" ..." if len(problems) > 20 else "")
        raise ValidationError(
            f"indicators: {len(problems)} invalid item(s), nothing was sent: {shown}",
            field="indicators",
        )
    return out
