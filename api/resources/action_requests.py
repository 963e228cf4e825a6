"""What a machine action sends and what a request ends with: the validated type-specific body
(:func:`action_body`, driven by ``ACTION_SPECS``), the comment with the client's correlation
reference (:func:`action_comment`, :func:`tagged_comment`) and :class:`ActionRequest`, used by
:mod:`~prefect_defender.api.resources.machine_actions`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from prefect_defender.api.errors import ValidationError
from prefect_defender.api.models.machine_actions import ACTION_SPECS, ActionType, MachineAction
from prefect_defender.api.validation import check_choice, check_comment, check_sha1

__all__ = ["ActionRequest", "action_body", "action_comment", "options_of", "tagged_comment"]

#: room kept in the 4000-character comment for the correlation reference
_REF_ROOM = 24


@dataclass(frozen=True)
class ActionRequest:
    """What a request ended with: the action, and whether it was already in progress."""

    action: MachineAction
    already_in_progress: bool = False
    reconciled: bool = False


def tagged_comment(comment: str, ref: str) -> str:
    """The comment with the client's correlation reference appended."""
    return f"{comment} [ref:{ref}]"


def action_comment(comment: str) -> str:
    """A validated, non-empty ``Comment`` (every action requires one)."""
    text = check_comment(comment, "comment", max_length=4000 - _REF_ROOM)
    if not text:
        raise ValidationError("comment: every machine action needs a comment", field="comment")
    return text


def action_body(action: ActionType | str, **options: Any) -> dict[str, Any]:
    """The validated type-specific body fields of ``action``, spelled as documented.

    The options are those of the action's row in ``ACTION_SPECS``: ``isolation_type``
    (Isolate: Full, Selective, UnManagedDevice; default Full), ``scan_type`` (RunAntiVirusScan:
    Quick or Full; default Quick), ``sha1`` (StopAndQuarantineFile, required). Options that do
    not belong to ``action`` are rejected.
    """
    spec = check_choice(action, ActionType, "action").spec
    extra = sorted(k for k, v in options.items() if v is not None and spec.option(k) is None)
    if extra:
        raise ValidationError(f"{extra[0]}: not an option of {spec.type.value}", field=extra[0])
    body: dict[str, Any] = {}
    for opt in spec.options:
        value = options.get(opt.name)
        if opt.choices is not None:
            body[opt.field] = check_choice(value or opt.default, opt.choices, opt.name).value
        else:
            body[opt.field] = check_sha1(value, opt.name)
    return body


def options_of(action: ActionType | str, options: dict[str, Any] | None) -> dict[str, Any]:
    """The entries of ``options`` that are options of ``action`` (a playbook may hold options
    for several action types; each request takes its own)."""
    spec = check_choice(action, ActionType, "action").spec
    if options is not None and not isinstance(options, dict):
        raise ValidationError("options: expected a mapping of option names", field="options")
    known = {o.name for s in ACTION_SPECS.values() for o in s.options}
    unknown = sorted(str(k) for k in options or {} if k not in known)
    if unknown:
        raise ValidationError(
            f"options: {', '.join(unknown)} is not an option of any machine action "
            f"({', '.join(sorted(known))})",
            field="options",
        )
    return {k: v for k, v in (options or {}).items() if spec.option(k) is not None}
