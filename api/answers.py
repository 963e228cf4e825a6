"""Reading an answer into the models: a wrong shape is an
:class:`~prefect_defender.api.errors.InvalidResponseError` (code ``UnexpectedAnswerShape``)
naming the endpoint, the model and the fields, never the values (which may be anything the
server sent, a secret included).

Examples:
    >>> from prefect_defender.api.models.machines import Machine
    >>> read_model(Machine, {"id": "a1"}, "mde.machines.get").id
    'a1'
    >>> try:
    ...     read_model(Machine, {"id": ["not", "text"]}, "mde.machines.get")
    ... except InvalidResponseError as exc:
    ...     print(exc.message.split(": ", 1)[1])
    id: Input should be a valid string
"""

from __future__ import annotations

from typing import Any, TypeVar

import pydantic

from prefect_defender.api.errors import InvalidResponseError

__all__ = ["collection", "link_value", "read_model", "read_models", "shape_error"]

M = TypeVar("M", bound=pydantic.BaseModel)

#: field errors quoted in one message
_SHOWN = 3


def shape_error(where: str, what: str, detail: str) -> InvalidResponseError:
    """The error of an answer of ``where`` (an endpoint name) that is not a ``what``."""
    return InvalidResponseError(
        f"the answer of {where} does not have the documented shape ({what}): {detail}",
        code="UnexpectedAnswerShape",
    )


def _fields(exc: pydantic.ValidationError) -> str:
    errors = exc.errors(include_url=False, include_input=False, include_context=False)
    shown = [
        f"{'.'.join(str(p) for p in e['loc']) or '(the answer)'}: {e['msg']}"
        for e in errors[:_SHOWN]
    ]
    more = f" (and {len(errors) - _SHOWN} more)" if len(errors) > _SHOWN else ""
    return "; ".join(shown) + more


def read_model(model: type[M], data: Any, where: str) -> M:
    """``data`` (an answer of endpoint ``where``) as ``model``."""
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as exc:
        raise shape_error(where, model.__name__, _fields(exc)) from None


def read_models(model: type[M], rows: Any, where: str) -> list[M]:
    """Each item of the list ``rows`` as ``model``."""
    if not isinstance(rows, list):
        raise shape_error(where, f"a list of {model.__name__}", f"got {type(rows).__name__}")
    return [read_model(model, row, f"{where} [{i}]") for i, row in enumerate(rows)]


def collection(body: Any, where: str) -> list[Any]:
    """The ``value`` list of an OData collection answer."""
    if not isinstance(body, dict) or not isinstance(body.get("value"), list):
        got = type(body.get("value")).__name__ if isinstance(body, dict) else type(body).__name__
        raise shape_error(where, "an OData collection", f"'value' is not a list ({got})")
    values: list[Any] = body["value"]
    return values


def link_value(body: Any, where: str) -> str:
    """The link of a ``{"value": "<url>"}`` answer (package and live-response links)."""
    value = body.get("value") if isinstance(body, dict) else None
    if not isinstance(value, str) or not value:
        raise shape_error(where, "a link", "'value' is not a non-empty string")
    return value
