"""Which catalog endpoints a playbook can call, read from the tasks it uses.

Every Defender task declares the endpoints it calls (``defender_task(endpoints=...)``,
``tasks.base``). A playbook's endpoints are those of the tasks its code refers to: the flow
function, the helper functions and subflows it calls (in ``prefect_defender``), and the
functions and tasks those refer to, found by reading the names their compiled code uses. Nothing
runs. A call a flow makes on a client directly is seen only where the function making it
declares its endpoints (``tasks.base.calls_endpoints``); the playbooks go through tasks.

A task that requests machine actions of any type (``apply_machine_actions`` declares every
type's endpoint) requests those of the plan it is given, and a playbook plans only the
:class:`~prefect_defender.api.models.machine_actions.ActionType` members its code names
(``ActionType.ISOLATE``, or the values of a constant table of them): :meth:`PlaybookEndpoints.reach`
keeps, of such a task's machine-action endpoints, those of the named types.

Example:
    >>> from prefect_defender.flows.contain import contain_device
    >>> "mde.actions.isolate" in playbook_endpoints(contain_device).endpoints
    True
"""

from __future__ import annotations

import enum
import inspect
import types
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from prefect import Flow, Task

from prefect_defender.api.models.machine_actions import ACTION_SPECS, ActionType

__all__ = ["PlaybookEndpoints", "playbook_endpoints", "surface_parameters"]

_OWN = "prefect_defender."


@dataclass
class PlaybookEndpoints:
    """The tasks a playbook refers to and the catalog endpoints they declare."""

    tasks: set[str] = field(default_factory=set)
    endpoints: set[str] = field(default_factory=set)
    #: a task that calls whatever endpoint it is given (``tasks.generic``)
    generic: bool = False
    #: the machine-action types the playbook's code names
    action_types: set[ActionType] = field(default_factory=set)
    #: machine-action endpoints of tasks that request the types of the plan they are given
    by_plan: set[str] = field(default_factory=set)
    #: machine-action endpoints of tasks that request one type, whatever they are given
    by_task: set[str] = field(default_factory=set)
    #: the project's functions the playbook's code reaches (``module.qualname``)
    functions: set[str] = field(default_factory=set)

    def reach(self) -> set[str]:
        """:attr:`endpoints`, with the machine-action endpoints of tasks that act on any type
        kept for the types the playbook names.

        Example:
            >>> from prefect_defender.flows.contain import contain_device
            >>> found = playbook_endpoints(contain_device)
            >>> "mde.actions.offboard" in found.endpoints, "mde.actions.offboard" in found.reach()
            (True, False)
        """
        named = {ACTION_SPECS[kind].endpoint for kind in self.action_types}
        return self.endpoints - (self.by_plan - self.by_task - named)


def _code_objects(code: types.CodeType) -> Iterator[types.CodeType]:
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _code_objects(const)


def _own(obj: Any) -> bool:
    return str(getattr(obj, "__module__", "") or "").startswith(_OWN)


_ACTION_ENDPOINTS = {spec.endpoint for spec in ACTION_SPECS.values()}


class _Walker:
    def __init__(self) -> None:
        self.found = PlaybookEndpoints()
        self.seen: set[int] = set()

    def function(self, fn: Any) -> None:
        fn = inspect.unwrap(fn)
        if id(fn) in self.seen or not hasattr(fn, "__code__"):
            return
        self.seen.add(id(fn))
        self.found.functions.add(f"{fn.__module__}.{fn.__qualname__}")
        self.found.endpoints.update(getattr(fn, "defender_endpoints", ()))  # calls_endpoints
        scope = dict(getattr(fn, "__globals__", {}))
        for cell_name, cell in zip(fn.__code__.co_freevars, fn.__closure__ or (), strict=False):
            try:
                scope[cell_name] = cell.cell_contents
            except ValueError:  # an empty cell
                continue
        for code in _code_objects(fn.__code__):
            names = set(code.co_names) | set(code.co_freevars)
            for name in names:
                self.value(scope.get(name), names)

    def value(self, obj: Any, names: set[str]) -> None:
        if obj is None:
            return
        if isinstance(obj, types.ModuleType):
            if obj.__name__.startswith(_OWN):
                for name in names:
                    self.value(getattr(obj, name, None), set())
        elif isinstance(obj, ActionType):
            self.found.action_types.add(obj)
        elif inspect.isclass(obj) and issubclass(obj, enum.Enum):  # ActionType.ISOLATE
            for name in names & set(obj.__members__):
                self.value(obj.__members__[name], set())
        elif isinstance(obj, dict | list | tuple | set | frozenset) and id(obj) not in self.seen:
            self.seen.add(id(obj))  # a constant table, e.g. {"isolate": ActionType.ISOLATE}
            for item in [*obj.values()] if isinstance(obj, dict) else obj:
                self.value(item, set())
        elif isinstance(obj, Task):
            self.task(obj)
        elif isinstance(obj, Flow):
            self.function(obj.fn)
        elif inspect.isfunction(obj) and _own(obj):
            self.function(obj)
        elif inspect.isclass(obj) and _own(obj) and id(obj) not in self.seen:
            self.seen.add(id(obj))
            for member in vars(obj).values():
                target = getattr(member, "__func__", member)
                if inspect.isfunction(target):
                    self.function(target)

    def task(self, t: Task[Any, Any]) -> None:
        if id(t) in self.seen:
            return
        self.seen.add(id(t))
        declared = tuple(getattr(t, "defender_endpoints", ()))
        if declared or getattr(t, "defender_generic", False):
            self.found.tasks.add(t.name)
            per_type = _ACTION_ENDPOINTS.intersection(declared)
            if len(per_type) > 1:  # the types come from the plan the task is given
                self.found.by_plan |= per_type
            else:
                self.found.by_task |= per_type
            self.found.endpoints.update(declared)
            self.found.generic |= bool(getattr(t, "defender_generic", False))
        self.function(t.fn)


def playbook_endpoints(playbook: Flow[Any, Any] | Any) -> PlaybookEndpoints:
    """The Defender tasks ``playbook`` (a flow or a function) refers to, and their endpoints."""
    walker = _Walker()
    walker.function(playbook.fn if isinstance(playbook, Flow) else playbook)
    return walker.found


def surface_parameters(playbook: Flow[Any, Any], parameters: dict[str, Any]) -> dict[str, str]:
    """The playbook's parameters that choose an API surface (their name ends in ``surface``),
    with the deployment's values over the flow's defaults: ``{"surface": "xdr"}``."""
    out: dict[str, str] = {}
    for name, p in inspect.signature(playbook.fn).parameters.items():
        if name.endswith("surface") and isinstance(p.default, str):
            out[name] = p.default
    for name, value in parameters.items():
        if name.endswith("surface") and isinstance(value, str):
            out[name] = value
    return {k: v.strip().lower() for k, v in out.items()}
