"""Griffe extension for the docs site: Sphinx roles in docstrings become Markdown code.

Some docstrings use reST roles (:class:`DefenderClient`, :func:`~pkg.mod.name`), which Markdown
would show literally. This rewrites them to code spans (``~`` keeps only the last name) before the
docstrings are parsed, with the rewrite the Prefect UI's descriptions get
(``prefect_defender.blocks.ui_text``). Loaded by mkdocstrings through ``mkdocs.yml``.
"""

from __future__ import annotations

from typing import Any

import griffe

from prefect_defender.blocks import ui_text


class SphinxRoles(griffe.Extension):
    """Rewrite ``:role:`target``` to a code span in every docstring."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None and ":`" in obj.docstring.value:
            obj.docstring.value = ui_text(obj.docstring.value) or ""
