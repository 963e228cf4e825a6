"""Run one example the way its reader would, and fail on what would silently do nothing.

* A docstring's example runs with its module's globals (as doctest does) plus the names the
  examples share (``creds``, ``machine_id`` ...: :func:`tests.examples.conftest.shared`); a
  Markdown example with only those shared names.
* Code with a top-level ``await`` is a fragment of an async flow or script: it runs on an event
  loop. Any other code runs as a script, in a thread with no running loop (so ``asyncio.run``
  and Prefect's sync calls behave as they would for the reader).
* A flow the example defines but does not call is called, with arguments taken by name from the
  shared names; so every example that defines a playbook step also runs it.
* A playbook the example starts that pauses for an analyst's approval is approved, as an
  operator would in the Prefect UI (:func:`operator`).
* A coroutine that is never awaited fails the example: ``RuntimeWarning: coroutine ... was never
  awaited`` (the call "did nothing"), a coroutine left as a value, or one returned by a flow.
"""

from __future__ import annotations

import ast
import asyncio
import concurrent.futures
import gc
import importlib
import inspect
import re
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

from tests.examples.collect import Example

#: the placeholder Prefect's block standards ask block examples to load
BLOCK_NAME = "block-name"
#: where one parameter name means another id in a module's examples
RENAMED = {
    "prefect_defender.tasks.alerts._graph": {"alert_id": "graph_alert_id"},
    "prefect_defender.tasks.indicators": {"ids": "indicator_ids"},
    "prefect_defender.tasks.indicators._custom": {"ids": "indicator_ids"},
    "prefect_defender.tasks.machine_actions._packages": {"action_id": "package_action_id"},
    "prefect_defender.tasks.live_response": {"action_id": "live_response_action_id"},
}


class NeverAwaited(AssertionError):
    """The example left a coroutine unawaited: the call it shows does nothing."""


def has_top_level_await(code: str) -> bool:
    """True for a fragment that awaits at its top level (the body of an async flow)."""
    try:
        compile(code, "<example>", "exec")
    except SyntaxError:
        compile(code, "<example>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
        return True
    return False


def namespace(ex: Example, shared: dict[str, Any]) -> dict[str, Any]:
    """The globals an example runs with."""
    ns: dict[str, Any] = {}
    if ex.owner:
        ns.update(vars(importlib.import_module(ex.owner)))
    ns.update(shared_for(ex, shared))
    ns["__name__"] = "__example__"
    return ns


def shared_for(ex: Example, shared: dict[str, Any]) -> dict[str, Any]:
    """The shared names as ``ex``'s module means them."""
    renamed = RENAMED.get(ex.owner, {})
    return {**shared, **{name: shared[other] for name, other in renamed.items()}}


def _defined_flows(ns: dict[str, Any], before: set[str]) -> list[Any]:
    from prefect import Flow

    return [v for k, v in ns.items() if k not in before and isinstance(v, Flow)]


def _arguments(fl: Any, shared: dict[str, Any]) -> dict[str, Any]:
    args: dict[str, Any] = {}
    for name, p in inspect.signature(fl.fn).parameters.items():
        if name in shared:
            args[name] = shared[name]
        elif p.default is p.empty:
            raise AssertionError(
                f"the example's flow {fl.fn.__name__} needs {name!r}, which no example shares"
            )
    return args


def _check_value(what: str, value: Any) -> None:
    if inspect.iscoroutine(value):
        value.close()
        raise NeverAwaited(f"{what} is a coroutine that was never awaited")


def _execute(code: str, ns: dict[str, Any]) -> None:
    if has_top_level_await(code):
        flags = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
        compiled = compile(code, "<example>", "exec", flags=flags)
        result = eval(compiled, ns)  # a coroutine: the fragment's body
        if inspect.iscoroutine(result):
            asyncio.run(result)
    else:
        exec(compile(code, "<example>", "exec"), ns)


def _run_flows(flows: list[Any], code: str, shared: dict[str, Any]) -> None:
    for fl in flows:
        if re.search(
            rf"\b{re.escape(fl.fn.__name__)}\s*\(", code.split("def " + fl.fn.__name__, 1)[-1]
        ):
            continue  # the example calls it itself
        args = _arguments(fl, shared)
        out = asyncio.run(fl(**args)) if inspect.iscoroutinefunction(fl.fn) else fl(**args)
        _check_value(f"{fl.fn.__name__}(...)'s result", out)


def _expect_raise(shown: str, code: str, ns: dict[str, Any]) -> None:
    """The example raises what its doctest shows: ``module.Error: message``."""
    name, _, message = shown.partition(": ")
    try:
        _execute(code, ns)
    except Exception as e:  # compared with what the example shows
        raised = f"{type(e).__module__}.{type(e).__qualname__}"
        assert raised == name or type(e).__qualname__ == name, f"raised {raised}, shows {name}"
        assert str(e) == message, f"raised {str(e)!r}, shows {message!r}"
    else:
        raise AssertionError(f"shows {shown}, raised nothing")


@contextmanager
def operator() -> Iterator[None]:
    """Approve every flow run that pauses meanwhile (the approval form's ``approve``)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterState
    from prefect.client.schemas.filters import FlowRunFilterStateType as StateTypes
    from prefect.client.schemas.objects import StateType
    from prefect.flow_runs import resume_flow_run

    stop, done = threading.Event(), set()
    paused = FlowRunFilter(state=FlowRunFilterState(type=StateTypes(any_=[StateType.PAUSED])))

    def watch() -> None:
        with get_client(sync_client=True) as client:
            while not stop.wait(0.5):
                for run in client.read_flow_runs(flow_run_filter=paused, limit=20):
                    if run.id not in done:
                        done.add(run.id)
                        resume_flow_run(run.id, run_input={"approve": True, "approved_by": "ex"})

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=10)


def run_example(ex: Example, shared: dict[str, Any]) -> dict[str, Any]:
    """Run ``ex``; its namespace afterwards. Raises on any failure, or a coroutine never
    awaited."""
    code = ex.code.replace('"BLOCK_NAME"', f'"{BLOCK_NAME}"')
    ns = namespace(ex, shared)
    before = set(ns)

    def body() -> None:
        if ex.raises:
            _expect_raise(ex.raises, code, ns)
            return
        _execute(code, ns)
        _run_flows(_defined_flows(ns, before), code, shared_for(ex, shared))
        for k, v in ns.items():
            if k not in before:
                _check_value(f"{k!r}", v)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # a thread of its own: no running loop, as in the reader's script
        # only a playbook pauses for approval: the operator watches for those examples only
        approver = operator() if "prefect_defender.flows" in code else nullcontext()
        with approver, concurrent.futures.ThreadPoolExecutor(1) as pool:
            pool.submit(body).result(timeout=240)
        gc.collect(1)  # a coroutine dropped in a reference cycle warns now, not later
    never = [w for w in caught if "was never awaited" in str(w.message)]
    if never:
        raise NeverAwaited(str(never[0].message))
    return ns
