"""A mypy plugin that types what calling a Defender task returns, in async and sync code.

A Defender task is an ``async def`` that can be called from both kinds of flow
(``tasks.base``): in an async flow ``await isolate_machine(...)``, in a sync flow
``isolate_machine(...)`` returns the result. Every type checker checks the call's arguments
against the task's signature (``DefenderTask.__call__`` takes the task's ``P``); what the call
returns depends on the calling code, so the signature declares ``Any``. With this plugin mypy
reads a plain call (no ``return_state``) as:

* ``Coroutine[Any, Any, T]`` inside an ``async def`` (so a missing ``await`` is reported:
  mypy's ``unused-coroutine``), and
* ``T`` inside a ``def`` or at module level,

where ``T`` is what the task's function returns. The runtime decides by the run context
(``tasks.base._in_async_context``); the two agree whenever a task is called from the body of
its flow, task or script, which is how playbooks call them. A sync helper called from an async
flow gets a coroutine at run time: call tasks from async code there.

Enable it beside pydantic's in ``pyproject.toml``::

    [tool.mypy]
    plugins = ["pydantic.mypy", "prefect_defender.tasks.mypy_plugin"]
"""

from __future__ import annotations

from collections.abc import Callable

from mypy.nodes import FuncItem
from mypy.plugin import MethodContext, Plugin
from mypy.types import AnyType, Instance, Type, TypeOfAny, get_proper_type

__all__ = ["DefenderTaskPlugin", "plugin"]

#: the method whose calls this plugin types
TASK_CALL = "prefect_defender.tasks.base.DefenderTask.__call__"


def _in_async_def(ctx: MethodContext) -> bool | None:
    """Whether the call is made inside an ``async def`` (``None``: mypy did not say)."""
    scope = getattr(ctx.api, "scope", None)  # mypy's TypeChecker keeps the enclosing functions
    current = getattr(scope, "current_function", None)
    if current is None:
        return None
    func = current()
    return isinstance(func, FuncItem) and func.is_coroutine


def _task_call_type(ctx: MethodContext) -> Type:
    """``Coroutine[Any, Any, T]`` in an ``async def``, ``T`` elsewhere; the declared type for a
    call with ``return_state`` or where the task's ``T`` is unknown."""
    task = get_proper_type(ctx.type)
    named = {name for names in ctx.arg_names for name in names if name}
    if not isinstance(task, Instance) or len(task.args) != 2 or "return_state" in named:
        return ctx.default_return_type
    result = task.args[1]
    in_async = _in_async_def(ctx)
    if in_async is None:
        return ctx.default_return_type
    if not in_async:
        return result
    anything = AnyType(TypeOfAny.implementation_artifact)
    return ctx.api.named_generic_type("typing.Coroutine", [anything, anything, result])


class DefenderTaskPlugin(Plugin):
    """Types the result of a call of a ``DefenderTask`` (see the module docstring)."""

    def get_method_hook(self, fullname: str) -> Callable[[MethodContext], Type] | None:
        """The hook for ``DefenderTask.__call__``; none for any other method."""
        return _task_call_type if fullname == TASK_CALL else None


def plugin(version: str) -> type[Plugin]:
    """mypy's entry point: the plugin class, for any mypy version."""
    return DefenderTaskPlugin
