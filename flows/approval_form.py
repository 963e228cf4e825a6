"""The resume dialog's form, one switch per proposed item.

A playbook's base form holds the decision itself: approve, include protected assets, comment
and name (:class:`Decision` adds the isolation type for containment, :class:`AccountDecision`
is about accounts, :class:`DeviceDecision` about other device actions, :class:`ReleaseDecision`
about a release). :func:`decision_form` adds one switch per row
(``device_1``, ``account_1`` ...), switched on, right after **approve**: the operator approves
the decision and switches off the rows to leave out. Leaving the form untouched still means *do
not act* (approve is off). Beyond :data:`MAX_ROW_SWITCHES` rows, the rest follow **approve**.

Example:
    ```python
    from prefect_defender.flows.approval import Decision

    rows = [FormRow("device_1", "0f3c...", "Isolate device 1: ws-1 (Selective)")]
    form = decision_form(Decision, rows)
    # pause_flow_run(wait_for_input=form.with_initial_data(description=...))
    ```
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from prefect.input import RunInput
from pydantic import Field, create_model

__all__ = [
    "MAX_ROW_SWITCHES",
    "AccountDecision",
    "Decision",
    "DeviceDecision",
    "FormRow",
    "ReleaseDecision",
    "decision_form",
    "left_out",
]

#: rows that get a switch of their own; more follow the approve switch
MAX_ROW_SWITCHES = 50


#: the approve switch says what off and on mean: the UI marks every field "(Optional)"
APPROVE = (
    "Off (the default): nothing is done. On: act on the rows switched on below (no answer by "
    "the deadline means nothing is done)."
)
COMMENT = "Why you decide so; recorded on the incident, in the report and in the event."
APPROVED_BY = "Your name or e-mail (recorded as typed: Prefect does not sign you in)."


def _approve() -> Any:
    return Field(default=False, title="Approve", description=APPROVE)


def _comment() -> Any:
    return Field(default="", description=COMMENT)


def _approved_by() -> Any:
    return Field(default="", description=APPROVED_BY)


class Decision(RunInput):
    """The analyst's answer. Leaving the form untouched means *no*."""

    approve: bool = _approve()
    isolation_type: Literal["Full", "Selective"] = Field(
        default="Selective",
        description="For every device approved. Full: the device reaches only Defender. "
        "Selective: a limited set of applications keeps its network access (Windows 10 1709 "
        "or later, Windows 11).",
    )
    include_protected: bool = Field(
        default=False,
        description="Also act on the protected devices and accounts marked above (explicit "
        "approval).",
    )
    comment: str = _comment()
    approved_by: str = _approved_by()


class AccountDecision(RunInput):
    """The analyst's answer about accounts (identity containment)."""

    approve: bool = _approve()
    include_protected: bool = Field(
        default=False,
        description="Also act on the protected accounts marked above (break-glass, listed admins).",
    )
    comment: str = _comment()
    approved_by: str = _approved_by()


class DeviceDecision(RunInput):
    """The analyst's answer about device actions other than isolation (a hunt's scan or
    investigation package)."""

    approve: bool = _approve()
    include_protected: bool = Field(
        default=False,
        description="Also act on the protected devices marked above (explicit approval).",
    )
    comment: str = _comment()
    approved_by: str = _approved_by()


class ReleaseDecision(RunInput):
    """The analyst's answer about a release (releasing is never held back for protected
    assets, so there is no include-protected switch)."""

    approve: bool = _approve()
    comment: str = _comment()
    approved_by: str = _approved_by()


@dataclass(frozen=True)
class FormRow:
    """One proposed item: its form field, the item it stands for (a machine id, an account),
    the switch's label and the item's name for reports."""

    key: str
    item: str
    label: str
    name: str = ""


def decision_form(base: type[Any], rows: list[FormRow]) -> type[Any]:
    """``base`` with one boolean field per row (at most :data:`MAX_ROW_SWITCHES`), placed right
    after ``approve`` so the form reads: decide, choose rows, then the details."""
    fields: dict[str, Any] = {}
    base_fields = dict(base.model_fields)
    first = base_fields.pop("approve")
    fields["approve"] = (first.annotation, first)
    for row in rows[:MAX_ROW_SWITCHES]:
        fields[row.key] = (
            bool,
            Field(
                default=True,
                title=row.label,
                description="Switched off: this row is left out of the approval.",
            ),
        )
    for name, info in base_fields.items():
        fields[name] = (info.annotation, info)
    # built on RunInput itself, so the fields come in this order, not the base's
    model: type[Any] = create_model(base.__name__, __base__=RunInput, **fields)
    model.__doc__ = base.__doc__
    return model


def left_out(decision: Any, rows: list[FormRow]) -> list[FormRow]:
    """The rows whose switch the operator turned off (rows without a switch are never left
    out: they follow the approve switch)."""
    return [r for r in rows[:MAX_ROW_SWITCHES] if getattr(decision, r.key, True) is False]
