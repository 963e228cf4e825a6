"""The resume dialog's form, one switch per proposed item.

A playbook's base form (``Decision``, ``AccountDecision``) holds the decision itself: approve,
include protected assets, comment and name. :func:`decision_form` adds one switch per row
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
from typing import Any

from prefect.input import RunInput
from pydantic import Field, create_model

__all__ = ["MAX_ROW_SWITCHES", "FormRow", "decision_form", "left_out"]

#: rows that get a switch of their own; more follow the approve switch
MAX_ROW_SWITCHES = 50


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
