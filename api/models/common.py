"""Shared base of the response models.

Models mirror Microsoft's JSON: Python attribute names in snake_case, JSON names (aliases) in the
API's own camelCase, unknown fields kept (``extra="allow"``) so nothing Microsoft adds is lost.
Enumerations are open strings: Microsoft adds values and spells some two ways (see
``docs/reference.md``), so a model never rejects an answer because of a new enum member.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

__all__ = ["DefenderModel", "ODataCollection"]


class DefenderModel(BaseModel):
    """Base of every response model: camelCase aliases, unknown fields kept."""

    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
        alias_generator=to_camel,
        protected_namespaces=(),
    )

    def to_api(self) -> dict[str, Any]:
        """The model as the API spells it (aliases, extras included, ``None`` dropped)."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


class ODataCollection(DefenderModel):
    """A raw OData collection answer."""

    value: list[dict[str, Any]] = []
