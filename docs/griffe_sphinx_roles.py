"""Griffe extension for the docs site: Sphinx roles in docstrings become Markdown code.

Some docstrings use reST roles (:class:`DefenderClient`, :func:`~pkg.mod.name`), which Markdown
would show literally. This rewrites them to code spans (``~`` keeps only the last name) before the
docstrings are parsed. Loaded by mkdocstrings through ``mkdocs.yml``; nothing else uses it.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:py:)?(?:class|func|meth|mod|attr|exc|data|obj|const|type):`(~?)([^`]+)`")


def _code(m: re.Match[str]) -> str:
    target = m.group(2)
    return f"`{target.rsplit('.', 1)[-1] if m.group(1) else target}`"


class SphinxRoles(griffe.Extension):
    """Rewrite ``:role:`target``` to a code span in every docstring."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None and ":`" in obj.docstring.value:
            obj.docstring.value = ROLE.sub(_code, obj.docstring.value)
