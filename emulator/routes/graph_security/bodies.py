"""Graph's answers to a bad request body, shared by the Graph beta security routes."""

from __future__ import annotations

from typing import Any

from prefect_defender.emulator.guard import ApiError


def bad(message: str) -> ApiError:
    """400 ``BadRequest`` with ``message``."""
    return ApiError(400, "BadRequest", message)


def no_such_property(name: str, type_name: str) -> ApiError:
    """Graph's 400 for a property the type does not define."""
    return bad(
        f"The property '{name}' does not exist on type '{type_name}'. Make sure to only use "
        "property names that are defined by the type."
    )


def only(obj: Any, allowed: set[str], type_name: str, where: str) -> dict[str, Any]:
    """``obj`` when it is an object with only ``allowed`` properties; 400 otherwise."""
    if not isinstance(obj, dict):
        raise bad(f"'{where}' must be an object of type '{type_name}'.")
    for key in obj:
        if key not in allowed:
            raise no_such_property(key, type_name)
    return obj


def text(value: Any, where: str, *, required: bool) -> str | None:
    """A string (non-empty when ``required``; ``None`` allowed otherwise); 400 otherwise."""
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value.strip()):
        raise bad(f"'{where}' is required and must be a non-empty string.")
    return value
