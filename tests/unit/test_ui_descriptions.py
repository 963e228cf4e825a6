"""What the Prefect UI shows of the package's docstrings renders cleanly.

Descriptions (the block catalogue's, a deployment's from its flow, a task's) are rendered as
Markdown, where a Sphinx role (``:meth:`admin_consent_url```) shows raw: none holds one. A block's
code example is shown as highlighted code in which the UI escapes ``<``, ``>`` and ``&`` once too
often (``def f() -> int`` shows as ``def f() -&gt; int`` in both of Prefect 3.9's UIs), so the
examples hold none of them. ``->`` in Markdown text renders as an arrow and is allowed there.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

import pytest
from prefect import Flow
from prefect.blocks.core import Block

import prefect_defender.blocks as blocks_pkg
import prefect_defender.flows as flows_pkg
from prefect_defender.blocks import SPHINX_ROLE, ui_text
from prefect_defender.tasks import all_tasks


def _own_block(obj: Any, module: str) -> bool:
    is_block = isinstance(obj, type) and issubclass(obj, Block)
    return is_block and obj.__module__ == module and "_block_type_slug" in vars(obj)


def _of(pkg: Any, kind: type) -> list[Any]:
    found: dict[str, Any] = {}
    for info in pkgutil.iter_modules(pkg.__path__):
        mod = importlib.import_module(f"{pkg.__name__}.{info.name}")
        for obj in vars(mod).values():
            if kind is Flow and isinstance(obj, Flow):
                found[obj.name] = obj
            elif kind is Block and _own_block(obj, mod.__name__):
                found[obj.__name__] = obj
    return [found[name] for name in sorted(found)]  # by name: the same order in every process


#: what the UI shows escaped in a block's code example
ESCAPED_IN_CODE = ("<", ">", "&")


@pytest.mark.parametrize("block", _of(blocks_pkg, Block), ids=lambda b: b.__name__)
def test_block_catalogue_texts(block: type[Block]) -> None:
    description = block.get_description() or ""
    assert description and not SPHINX_ROLE.search(description), description
    example = block.get_code_example() or ""
    assert not SPHINX_ROLE.search(example), example
    shown_escaped = [c for c in ESCAPED_IN_CODE if c in example]
    assert shown_escaped == [], example


@pytest.mark.parametrize("fl", _of(flows_pkg, Flow), ids=lambda f: f.name)
def test_flow_descriptions(fl: Flow[Any, Any]) -> None:
    text = fl.description or ""
    assert text and not SPHINX_ROLE.search(text), text
    assert "&gt;" not in text and "&lt;" not in text, text


def test_task_descriptions_hold_no_sphinx_role() -> None:
    raw = [t.name for _, t in all_tasks() if SPHINX_ROLE.search(t.description or "")]
    assert raw == []


def test_ui_text_turns_roles_into_code_spans() -> None:
    assert ui_text(":func:`x.y.z` and :class:`~a.B`") == "`x.y.z` and `B`"
    assert ui_text(None) is None
