"""Credential block names as every command takes them: ``<block-type-slug>/<name>``, or a bare
``<name>`` when exactly one credential block of that name is saved.

Each mistake is a :class:`~prefect_defender.cli.errors.CliError` saying what is wrong and what
to do next: a name that is not one, a block type that is not a credential block, no such block,
a name shared by several block types, a block whose saved fields no longer validate, a block of
the wrong kind for the command.

Example:
    ```python
    from prefect_defender.cli.block_refs import split_ref

    assert split_ref("defender-application-credentials/soc") == (
        "defender-application-credentials",
        "soc",
    )
    assert split_ref("soc") == (None, "soc")
    ```
"""

from __future__ import annotations

import re
from typing import Any

from prefect_defender.blocks import CREDENTIAL_BLOCKS
from prefect_defender.cli.errors import USAGE, CliError, validation_reason

__all__ = ["load_credentials_block", "saved_as", "split_ref"]

#: Prefect's block document names: lowercase letters, digits and dashes
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,99}$")
_SLUGS: dict[str, Any] = {cls.get_block_type_slug(): cls for cls in CREDENTIAL_BLOCKS}
_FORM = "<block-type-slug>/<name> (e.g. defender-application-credentials/soc) or a bare name"
_CREATE = (
    "list saved blocks with `prefect block ls`; create one in the Prefect UI (Blocks) or in "
    "Python (docs/getting-started)"
)


def split_ref(ref: str) -> tuple[str | None, str]:
    """``(slug, name)`` of ``slug/name``, ``(None, name)`` of a bare name; a malformed name is
    a usage :class:`CliError`."""
    slug, _, name = ref.rpartition("/")
    if not _NAME.match(name) or (slug and "/" in slug) or ("/" in ref and not slug):
        raise CliError(
            f"{ref[:80]!r} is not a block name",
            f"give {_FORM}; names use a-z, 0-9 and -",
            code=USAGE,
        )
    if slug and slug not in _SLUGS:
        raise CliError(
            f"{slug[:80]!r} is not a Defender credential block type",
            f"use one of {', '.join(sorted(_SLUGS))}",
            code=USAGE,
        )
    return (slug or None), name


async def _saved_types(name: str) -> list[str]:
    """The credential block types with a saved block called ``name``."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    found = []
    async with get_client() as client:
        for slug in _SLUGS:
            try:
                await client.read_block_document_by_name(name, slug, include_secrets=False)
            except ObjectNotFound:
                continue
            found.append(slug)
    return found


def _kinds(types: tuple[Any, ...]) -> str:
    return " or ".join(cls.__name__ for cls in types)


async def load_credentials_block(
    ref: str, want: tuple[Any, ...] = CREDENTIAL_BLOCKS, purpose: str = "this command"
) -> Any:
    """The saved credential block ``ref`` names, of one of the ``want`` types."""
    slug, name = split_ref(ref)
    found = await _saved_types(name)
    if slug is None:
        if len(found) > 1:
            both = ", ".join(f"{s}/{name}" for s in found)
            raise CliError(f"{name!r} names {len(found)} blocks ({both})", "give one", code=USAGE)
        if not found:
            raise CliError(f"no saved credential block is named {name!r}", _CREATE)
        slug = found[0]
    elif slug not in found:
        raise CliError(f"no saved block {slug}/{name}", _CREATE)
    cls = _SLUGS[slug]
    try:
        block = await cls.aload(name)
    except RuntimeError as exc:  # Prefect: the saved fields fail the block's validation
        from pydantic import ValidationError

        if not isinstance(exc.__cause__, ValidationError):
            raise
        raise CliError(
            f"the saved block {slug}/{name} is invalid: {validation_reason(exc.__cause__)}",
            f"fix it in the Prefect UI (Blocks > {name}) or save it again",
        ) from None
    if not isinstance(block, want):
        raise CliError(
            f"{slug}/{name} is a {cls.__name__}",
            f"{purpose} needs a {_kinds(want)} block",
            code=USAGE,
        )
    return block


def saved_as(ref: str, cls: Any) -> str:
    """The document name to save a new ``cls`` block under: ``ref``'s name, after checking that
    a ``slug/name`` names that block type."""
    slug, name = split_ref(ref)
    if slug is not None and slug != cls.get_block_type_slug():
        raise CliError(
            f"{ref} is not a {cls.__name__} name",
            f"give {cls.get_block_type_slug()}/{name} or the bare name {name}",
            code=USAGE,
        )
    return name
