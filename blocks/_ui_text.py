"""Docstrings as the Prefect UI shows them: block, flow and task descriptions are rendered as
Markdown, where a Sphinx role (``:meth:`admin_consent_url```) shows raw. :func:`ui_text` turns
each role into the code span the API reference shows (``docs/griffe_sphinx_roles.py`` applies
it to the docs site's docstrings).

Example:
    >>> from prefect_defender.blocks import ui_text
    >>> ui_text("See :meth:`~prefect_defender.blocks.DefenderPartnerCredentials.tenant_ids`.")
    'See `tenant_ids`.'
"""

from __future__ import annotations

import re

__all__ = ["SPHINX_ROLE", "ui_text"]

#: a Sphinx cross-reference role: ``:func:`name```, ``:class:`~pkg.Name```, ``:py:meth:`...```
SPHINX_ROLE = re.compile(
    r":(?:py:)?(?:class|func|meth|mod|attr|exc|data|obj|const|type):`(~?)([^`]+)`"
)


def ui_text(text: str | None) -> str | None:
    """``text`` with every Sphinx role as a code span (``~`` keeps the last name only)."""
    if text is None:
        return None

    def code(m: re.Match[str]) -> str:
        target = m.group(2)
        return f"`{target.rsplit('.', 1)[-1] if m.group(1) else target}`"

    return SPHINX_ROLE.sub(code, text)
