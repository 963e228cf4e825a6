"""The steps of docs/contributing.md "Adding a playbook" that no other test guards: a playbook is
deployed (or says why not), has its row in the playbooks overview, asks for approval before it
writes (or says why not), applies the ``safety`` it takes, notifies (with its report) when it takes
``notify``, and documents an example; and the tests the guide names exist.

Each table below is a decision a reviewer reads: a new playbook that skips a step fails here
until it does the step or adds its row with the reason."""

from __future__ import annotations

import ast
import inspect
import re
import types
from pathlib import Path
from typing import Any

import yaml

from prefect_defender.api.catalog import endpoint
from prefect_defender.flows.notify import notify_hook
from prefect_defender.flows.readiness_sources import _flows_by_name, resolve_playbook
from prefect_defender.tasks.arguments import checked_parameters
from prefect_defender.tasks.playbook_endpoints import playbook_endpoints

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOKS = _flows_by_name()
ASKS = "prefect_defender.flows.approval.ask_decision"
REPORTS = "prefect_defender.flows.notify._hook.remember_report"  # write_report keeps it

#: playbooks deployments/prefect.yaml does not deploy, and why
NOT_DEPLOYED: dict[str, str] = {
    "defender-api-readiness": "run by `prefect-defender readiness` (or deployed by the operator)",
    "defender-sigma-detection-rules": "run on demand from Python (docs/sigma.md): each run "
    "creates rules that then run inside Defender",
}
#: playbooks that write without asking for approval, and why
NO_APPROVAL: dict[str, str] = {
    "defender-collect-evidence": "collecting a package changes nothing on the device",
    "defender-mssp-fanout": "an indicator baseline the MSSP chose, under caps and dry run",
    "defender-sigma-detection-rules": "its rules only raise alerts (no automated action)",
    "defender-triage-incident": "it tags, comments on and classifies incidents only",
    "defender-triage-open-incidents": "it tags, comments on and classifies incidents only",
}


def _deployed() -> set[str]:
    spec = yaml.safe_load((ROOT / "deployments" / "prefect.yaml").read_text())
    found = {resolve_playbook(d["entrypoint"]) for d in spec["deployments"]}
    return {f.name for f in found if f is not None}


def _writes(playbook: Any) -> bool:
    return any(endpoint(n).writes for n in playbook_endpoints(playbook).reach())


def test_every_playbook_is_deployed_or_says_why() -> None:
    assert set(PLAYBOOKS) - _deployed() == set(NOT_DEPLOYED)


def test_every_deployed_playbook_has_a_row_in_the_overview() -> None:
    overview = (ROOT / "docs" / "playbooks-overview.md").read_text()
    rows = {line.split("|")[1] for line in overview.splitlines() if line.startswith("| `")}
    missing = [n for n in sorted(_deployed()) if not any(f"`{n}`" in r for r in rows)]
    assert not missing, f"docs/playbooks-overview.md has no row for {missing}"


def test_every_writing_playbook_asks_for_approval_or_says_why() -> None:
    silent = {
        name
        for name, f in PLAYBOOKS.items()
        if _writes(f) and ASKS not in playbook_endpoints(f).functions
    }
    assert silent == set(NO_APPROVAL)


def _names_in_module(f: Any) -> set[str]:
    """The global names the code of a playbook's module uses (the flow and its helpers)."""
    source = Path(inspect.getfile(inspect.unwrap(f.fn))).read_text()
    stack, names = [compile(source, "playbook", "exec")], set()
    while stack:
        code = stack.pop()
        names |= set(code.co_names)
        stack += [c for c in code.co_consts if isinstance(c, types.CodeType)]
    return names


def test_a_playbook_that_takes_safety_applies_it() -> None:
    """``run_guard(safety)`` in the playbook's module: else the operator's caps, protected
    assets and dry run would be ignored (the default policy would hold instead)."""
    for name, f in PLAYBOOKS.items():
        if "safety" in inspect.signature(f.fn).parameters:
            assert "run_guard" in _names_in_module(f), name


def test_a_playbook_that_takes_notify_notifies_with_its_report() -> None:
    """``@notifying`` over ``@flow``, else ``notify`` would be a parameter that does nothing;
    and the report written with ``write_report`` (it keeps the report for the notification)."""
    for name, f in PLAYBOOKS.items():
        if "notify" in inspect.signature(f.fn).parameters:
            assert notify_hook in f.on_completion_hooks, name
            assert notify_hook in f.on_failure_hooks, name
            assert REPORTS in playbook_endpoints(f).functions, name


def test_every_playbook_documents_an_example() -> None:
    """The flow's docstring is its page in the playbook catalogue and its form's help."""
    for name, f in PLAYBOOKS.items():
        assert "Example:" in (f.fn.__doc__ or ""), name


def test_every_playbook_checks_its_parameters_on_entry() -> None:
    """Under ``@flow``, ``@checked_parameters``: each parameter of an input type is checked
    before the playbook does anything (an id once, carried as checked to the request)."""
    unchecked = [
        name
        for name, f in PLAYBOOKS.items()
        if f.fn.__code__.co_qualname != checked_parameters.__qualname__ + ".<locals>.checked"
    ]
    assert not unchecked


def _tenant_beside_client(call: ast.Call) -> bool:
    """A call given a client (``scope.client``, ``client``, ``creds``) and a tenant id beside it
    (a ``tenant_id`` keyword, name or attribute)."""
    values = [*call.args, *(k.value for k in call.keywords)]
    client = any(
        (isinstance(v, ast.Attribute) and v.attr == "client")
        or (isinstance(v, ast.Name) and v.id in ("client", "creds"))
        for v in values
    )
    tenant = any(k.arg == "tenant_id" for k in call.keywords) or any(
        (isinstance(v, ast.Name) and v.id == "tenant_id")
        or (isinstance(v, ast.Attribute) and v.attr == "tenant_id")
        for v in values
    )
    return client and tenant


def test_a_playbook_hands_its_scope_down_not_a_tenant_id_beside_its_client() -> None:
    """A playbook's client acts in its scope's tenant: a task gets ``scope.client`` alone, a
    helper of the playbook the ``scope``, never the tenant id a second time beside them."""
    found = [
        f"flows/{path.name}:{node.lineno}"
        for path in sorted((ROOT / "flows").glob("*.py"))
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Call) and _tenant_beside_client(node)
    ]
    assert not found
    shape = ast.parse("get_incident(scope.client, iid, scope.tenant_id)", mode="eval").body
    assert isinstance(shape, ast.Call) and _tenant_beside_client(shape)  # the check sees it


def test_every_test_the_contributing_guide_names_exists() -> None:
    """docs/contributing.md names the test guarding each step (``tests/x.py::test_y``, or
    ``::test_y`` in the file named before it): a renamed or removed test fails here."""
    text = (ROOT / "docs" / "contributing.md").read_text()
    last, missing = "", []
    for path, name in re.findall(r"`(tests/[\w/]+\.py)?::(\w+)", text):
        last = path or last
        if not re.search(rf"^(async )?def {name}\(", (ROOT / last).read_text(), re.M):
            missing.append(f"{last}::{name}")
    assert not missing, missing
    assert len(re.findall(r"::test_\w+", text)) >= 15
