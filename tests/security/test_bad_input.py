"""Bad input over every public task and playbook parameter, driven by the parameters' types.

* Every parameter of every task (``tasks.all_tasks()``) and playbook flow has a type with a
  kind (``kinds.kind_for``); a new parameter of a type without one fails
  ``test_every_task_parameter_has_a_checkable_type``, naming it.
* An invalid value of any kind raises our ``ValidationError`` naming the parameter, and the
  emulator counts zero requests (token, API and download) for it.
* Values hypothesis generates as valid are never refused by validation (they may still fail
  with 404 or 400 from the emulator: any ``DefenderError`` other than ``ValidationError``).
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import typing
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from prefect import Flow
from pydantic import BaseModel

from prefect_defender.api import auth, ratelimit
from prefect_defender.api.errors import DefenderError, ValidationError
from prefect_defender.blocks import DefenderApplicationCredentials, DefenderPartnerCredentials
from prefect_defender.tasks import all_tasks
from tests.security.conftest import FIGURES, emulator_traffic
from tests.security.kinds import (
    ENUM_REFUSED,
    TASK_BASELINES,
    VALID_ONLY_WITH_OTHERS,
    VALID_OVERRIDES,
    Ctx,
    Kind,
    enum_strategies,
    enum_values,
    explicit_enum,
    flow_kind_for,
    kind_for,
)

INVALID_EXAMPLES = 6
VALID_EXAMPLES = 3
FLOW_EXAMPLES = 3

TASKS = {t.fn.__name__: t for _, t in all_tasks()}
AREA = {t.fn.__name__: area for area, t in all_tasks()}


def _flows() -> dict[str, Flow[Any, Any]]:
    import prefect_defender.flows as pkg

    out: dict[str, Flow[Any, Any]] = {}
    for info in pkgutil.iter_modules(pkg.__path__):
        mod = importlib.import_module(f"prefect_defender.flows.{info.name}")
        for obj in vars(mod).values():
            if isinstance(obj, Flow) and obj.fn.__module__ == mod.__name__:
                out[obj.fn.__name__] = obj
    return out


FLOWS = _flows()
#: (flow, parameter) pairs that do not refuse invalid values yet, with what happens instead;
#: each is ``xfail(strict=True)`` so a fix shows up (none left)
KNOWN_FLOW_GAPS: dict[tuple[str, str], str] = {}
#: a flow parameter feeding a task parameter of another name: the error may name either
FLOW_ALIASES = {"incident_tenant_id": "tenant_id", "ioc_values": "values"}
SIGMA_RULE = """title: security suite
id: 5f1a9c52-0000-4000-8000-000000000001
status: test
logsource:
  product: windows
  category: process_creation
detection:
  sel:
    Image|endswith: '\\invoice_update.exe'
  condition: sel
level: high
"""


def _params(fn: Any) -> list[inspect.Parameter]:
    return list(inspect.signature(fn).parameters.values())


def _hints(fn: Any) -> dict[str, Any]:
    return typing.get_type_hints(fn, include_extras=True)


def kind_of(task: str, param: str) -> Kind | None:
    """The kind of a task parameter, from its annotated type."""
    fn = TASKS[task].fn
    p = inspect.signature(fn).parameters[param]
    return kind_for(_hints(fn).get(param, p.annotation), variadic=p.kind is p.VAR_KEYWORD)


def _enum_values(task: str, param: str) -> list[str]:
    hint = _hints(TASKS[task].fn).get(param)
    return explicit_enum(hint) or enum_values(hint)


def _is_required(p: inspect.Parameter) -> bool:
    return p.default is inspect.Parameter.empty and p.kind is not p.VAR_KEYWORD


def _strategies(task: str, p: inspect.Parameter) -> tuple[Kind, Any, Any]:
    """``(kind, valid strategy or None, invalid strategy or None)`` for one task parameter."""
    kind = kind_of(task, p.name)
    assert kind is not None
    if kind.name.startswith("enum"):
        values = _enum_values(task, p.name)
        required = kind.name == "enum" or _is_required(p)
        valid, invalid = enum_strategies(
            values, kind.name, required, ENUM_REFUSED.get((task, p.name))
        )
        override = VALID_OVERRIDES.get((task, p.name))
        return kind, override or (lambda _: valid), (lambda _: invalid)
    return kind, VALID_OVERRIDES.get((task, p.name), kind.valid), kind.invalid


def _combos(which: str) -> list[Any]:
    out = []
    for name, t in TASKS.items():
        for p in _params(t.fn):
            kind = kind_of(name, p.name)
            if kind is None:
                continue  # reported by the coverage test
            if which == "invalid" and (kind.invalid is not None or kind.name.startswith("enum")):
                out.append(pytest.param(name, p.name, id=f"{name}-{p.name}"))
            if (
                which == "valid"
                and (kind.valid is not None or kind.name.startswith("enum"))
                and (name, p.name) not in VALID_ONLY_WITH_OTHERS
            ):
                out.append(pytest.param(name, p.name, id=f"{name}-{p.name}"))
    return out


# -- fixtures ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def quiet_emulator(emulator: Any) -> Any:
    """The module's emulator with its rate limits off (hundreds of calls in a few seconds)."""
    emulator.admin.patch_config(rate_limits_enabled=False)
    yield emulator
    emulator.admin.patch_config(rate_limits_enabled=True)


@pytest.fixture(scope="module")
def ctx(quiet_emulator: Any, conn: dict, tmp_path_factory: pytest.TempPathFactory) -> Ctx:
    tenant = conn["apps"]["soc"]["tenant_id"]
    machine = quiet_emulator.admin.dump(tenant, "machines")[0]
    tmp = tmp_path_factory.mktemp("security-files")
    (tmp / "upload.ps1").write_text("Write-Output 'security suite'\n")
    return Ctx(tenant, machine["id"], machine["computerDnsName"], str(tmp))


@pytest.fixture(scope="module")
def creds(conn: dict) -> DefenderApplicationCredentials:
    return DefenderApplicationCredentials.from_emulator(conn, rate_limit_time_scale=1000.0)


def _baseline(task: str, ctx: Ctx, creds: Any) -> dict[str, Any]:
    fn = TASKS[task].fn
    kw: dict[str, Any] = {}
    for p in _params(fn):
        opt_in = kind_of(task, p.name)
        if p.name == "credentials":
            kw[p.name] = creds
        elif opt_in is not None and opt_in.name == "beta_opt_in":  # the tasks refuse otherwise
            kw[p.name] = True
        elif _is_required(p):
            kind = kind_of(task, p.name)
            assert kind is not None
            if kind.name.startswith("enum"):
                kw[p.name] = _enum_values(task, p.name)[0]
            else:
                assert kind.baseline is not None, (
                    f"{task}.{p.name}: kind {kind.name} has no baseline"
                )
                kw[p.name] = kind.baseline(ctx)
    kw.update(TASK_BASELINES.get(task, {}))
    return kw


def _call(task: str, base: dict[str, Any], param: str, value: Any) -> Any:
    fn = TASKS[task].fn
    p = inspect.signature(fn).parameters[param]
    if p.kind is p.VAR_KEYWORD:
        return fn(**base, **value)
    return fn(**{**base, param: value})


def _model_fields(annotation: Any) -> set[str]:
    """Field names of the pydantic models in ``annotation`` (``X | dict``, ``list[X | dict]``)."""
    out: set[str] = set()
    stack = [annotation]
    while stack:
        a = stack.pop()
        if isinstance(a, type) and issubclass(a, BaseModel):
            out |= set(a.model_fields)
        stack += list(typing.get_args(a))
    return out


def _names_parameter(exc: ValidationError, task: str, param: str, value: Any) -> bool:
    """The error names the parameter, or (a structured value) the field inside it."""
    text = str(exc)
    p = inspect.signature(TASKS[task].fn).parameters[param]
    if p.kind is p.VAR_KEYWORD:  # **options: the error names the option
        return any(str(k) in text for k in value)
    inner = set(_model_fields(_hints(TASKS[task].fn).get(param)))
    if isinstance(value, dict):  # a key the model does not have (a removed property) is named
        inner |= {str(k) for k in value}
    return param in text or any(f"{f}:" in text or f"{f}[" in text for f in inner)


SETTINGS = settings(
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)


# -- every type has a kind -----------------------------------------------------------------------
def test_every_task_parameter_has_a_checkable_type() -> None:
    """A parameter whose type has no kind would escape the suite: name it and its type here.

    Checkable types: the input types of ``api.input_types``, pydantic models and the other
    types of ``kinds.TYPE_KINDS``, enums and Literals, booleans and datetimes.
    """
    missing = []
    for name, t in TASKS.items():
        hints = _hints(t.fn)
        for p in _params(t.fn):
            kind = kind_of(name, p.name)
            if kind is None:
                missing.append(f"{AREA[name]}.{name}({p.name}: {hints.get(p.name, '?')})")
            elif kind.name.startswith("enum") and not _enum_values(name, p.name):
                missing.append(f"{name}.{p.name}: kind {kind.name} but no Enum/Literal annotation")
    assert not missing, "parameters of a type without a kind (see tests/security/kinds.py):\n" + (
        "\n".join(missing)
    )


def _flow_kind(flow: str, param: str) -> tuple[Kind | None, str]:
    fn = FLOWS[flow].fn
    return flow_kind_for(_hints(fn).get(param, inspect.signature(fn).parameters[param].annotation))


def test_every_flow_parameter_has_a_checkable_type() -> None:
    """Every playbook parameter is fuzzed for its type or its type says why not."""
    missing = [
        f"{name}({p.name}: {_hints(f.fn).get(p.name, '?')})"
        for name, f in FLOWS.items()
        for p in _params(f.fn)
        if _flow_kind(name, p.name) == (None, "")
    ]
    assert not missing, "playbook parameters of a type without a kind: " + ", ".join(missing)


# -- invalid values: refused, named, nothing sent ------------------------------------------------
@pytest.mark.parametrize("task,param", _combos("invalid"))
def test_invalid_value_is_refused_before_anything_is_sent(
    task: str, param: str, ctx: Ctx, creds: Any, quiet_emulator: Any, run: Any
) -> None:
    _, _, invalid = _strategies(task, inspect.signature(TASKS[task].fn).parameters[param])
    base = _baseline(task, ctx, creds)
    auth.REGISTRY.clear()  # a token request would show up at the emulator too
    ratelimit.REGISTRY.clear()
    quiet_emulator.admin.reset_stats()
    examples = 0

    @settings(SETTINGS, max_examples=INVALID_EXAMPLES)
    @given(value=invalid(ctx))
    def check(value: Any) -> None:
        nonlocal examples
        examples += 1
        with pytest.raises(ValidationError) as info:
            run(_call(task, base, param, value))
        assert _names_parameter(info.value, task, param, value), (
            f"{task}({param}={value!r:.80}): the error does not name the parameter: {info.value}"
        )

    check()
    sent = emulator_traffic(quiet_emulator)
    FIGURES["task_param_combos_invalid"] += 1
    FIGURES["invalid_examples"] += examples
    FIGURES["requests_on_invalid_input"] += sent
    assert sent == 0, f"{task}({param}=<invalid>) sent {sent} request(s) to the emulator"


@pytest.mark.parametrize(
    "task,param,limit",
    [
        ("request_machine_actions", "machine_ids", 10_000),
        ("isolate_machines", "machine_ids", 10_000),
        ("unisolate_machines", "machine_ids", 10_000),
        ("run_antivirus_scans", "machine_ids", 10_000),
        ("restrict_machines", "machine_ids", 10_000),
        ("unrestrict_machines", "machine_ids", 10_000),
        ("collect_investigation_packages", "machine_ids", 10_000),
        ("stop_and_quarantine_files", "machine_ids", 10_000),
        ("hunt_ioc", "values", 2_000),
    ],
)
def test_oversize_lists_are_refused(
    task: str, param: str, limit: int, ctx: Ctx, creds: Any, quiet_emulator: Any, run: Any
) -> None:
    """Lists beyond what one task may send (a query's size, the bulk cap) send nothing."""
    base = _baseline(task, ctx, creds)
    item = "6b86b273ff34fce19d6b804eff5a3f5747ada4eaa22f1d49c01e52ddb7875b4b"
    items = (
        [f"{i:040x}" for i in range(limit + 1)] if param == "machine_ids" else [item] * (limit + 1)
    )
    quiet_emulator.admin.reset_stats()
    with pytest.raises(ValidationError, match=param):
        run(_call(task, base, param, items))
    assert emulator_traffic(quiet_emulator) == 0


def test_missing_and_unknown_arguments_are_refused(ctx: Ctx, creds: Any, run: Any) -> None:
    from prefect_defender.tasks.machine_actions import isolate_machine

    with pytest.raises(ValidationError, match="comment: required"):
        run(isolate_machine.fn(creds, ctx.machine_id))
    with pytest.raises(ValidationError, match="isolation_typ"):
        run(isolate_machine.fn(creds, ctx.machine_id, "x", isolation_typ="Full"))


# -- valid values: never refused by validation ---------------------------------------------------
@pytest.mark.parametrize("task,param", _combos("valid"))
def test_valid_value_is_not_refused(
    task: str, param: str, ctx: Ctx, creds: Any, quiet_emulator: Any, run: Any
) -> None:
    _, valid, _ = _strategies(task, inspect.signature(TASKS[task].fn).parameters[param])
    base = _baseline(task, ctx, creds)
    examples = 0

    @settings(SETTINGS, max_examples=VALID_EXAMPLES)
    @given(value=valid(ctx))
    def check(value: Any) -> None:
        nonlocal examples
        examples += 1
        try:
            run(_call(task, base, param, value))
        except ValidationError as exc:
            pytest.fail(f"{task}({param}={value!r:.80}) was refused: {exc}")
        except DefenderError:
            pass  # 404, 400 from the emulator: validation let it through, as it should

    check()
    FIGURES["task_param_combos_valid"] += 1
    FIGURES["valid_examples"] += examples


# -- playbooks -----------------------------------------------------------------------------------
def _flow_combos() -> list[Any]:
    out = []
    for name, f in FLOWS.items():
        for p in _params(f.fn):
            kind, _ = _flow_kind(name, p.name)
            if kind is None:
                continue
            marks = []
            if (name, p.name) in KNOWN_FLOW_GAPS:
                marks.append(pytest.mark.xfail(reason=KNOWN_FLOW_GAPS[(name, p.name)], strict=True))
            out.append(pytest.param(name, p.name, id=f"{name}-{p.name}", marks=marks))
    return out


@pytest.fixture(scope="module")
def flow_blocks(prefect_harness: None, conn: dict) -> dict[str, str]:
    DefenderApplicationCredentials.from_emulator(conn, rate_limit_time_scale=1000.0).save(
        "security-bad-input", overwrite=True
    )
    DefenderPartnerCredentials.from_emulator(conn, rate_limit_time_scale=1000.0).save(
        "security-bad-input", overwrite=True
    )
    return {
        "app": "defender-application-credentials/security-bad-input",
        "partner": "defender-partner-credentials/security-bad-input",
    }


def _flow_baseline(name: str, param: str, blocks: dict[str, str], machine: str) -> dict[str, Any]:
    fn = FLOWS[name].fn
    kw: dict[str, Any] = {}
    names = {p.name for p in _params(fn)}
    if "credentials" in names:
        partner = name == "mssp_fanout" or param == "tenant_ids"
        kw["credentials"] = blocks["partner" if partner else "app"]
    if "block_names" in names:
        kw["block_names"] = [blocks["app"]]
    if name == "hunt_and_respond" and param != "ioc_values":
        kw["ioc_values"] = ["6b86b273ff34fce19d6b804eff5a3f5747ada4eaa22f1d49c01e52ddb7875b4b"]
    if name in ("sigma_hunt", "sigma_detection_rules"):
        kw["rule_texts"] = [SIGMA_RULE]
    if name in ("triage_incident", "contain_incident") and param != "incident_id":
        kw["incident_id"] = 1001
    if name == "block_indicators" and param == "incident_tenant_id":
        kw["incident_id"] = 1001
    if param == "tenant_id" and "machine_ids" in names and "incident_id" in names:
        kw["machine_ids"] = [machine]  # so the playbook reaches the tenant
    return kw


@pytest.mark.parametrize("flow_name,param", _flow_combos())
def test_invalid_flow_value_is_refused_before_anything_is_sent(
    flow_name: str,
    param: str,
    ctx: Ctx,
    flow_blocks: dict[str, str],
    quiet_emulator: Any,
    run: Any,
) -> None:
    kind, _ = _flow_kind(flow_name, param)
    assert kind is not None and kind.invalid is not None
    fn = FLOWS[flow_name].fn
    base = _flow_baseline(flow_name, param, flow_blocks, ctx.machine_id)
    auth.REGISTRY.clear()
    quiet_emulator.admin.reset_stats()

    @settings(SETTINGS, max_examples=FLOW_EXAMPLES)
    @given(value=kind.invalid(ctx).filter(lambda v: v is not None))
    def check(value: Any) -> None:
        with pytest.raises(ValidationError) as info:
            run(fn(**{**base, param: value}))
        named = param in str(info.value) or FLOW_ALIASES.get(param, param) in str(info.value)
        assert named, f"{flow_name}({param}): error names another: {info.value}"

    check()
    FIGURES["flow_param_combos_invalid"] += 1
    sent = emulator_traffic(quiet_emulator)
    FIGURES["requests_on_invalid_input"] += sent
    assert sent == 0, f"{flow_name}({param}=<invalid>) sent {sent} request(s)"


def test_flow_parameter_types_are_enforced_before_the_run(
    flow_blocks: dict[str, str], quiet_emulator: Any, run: Any
) -> None:
    """A wrong type or an unknown Literal value never reaches the playbook's code."""
    from prefect.exceptions import ParameterTypeError

    from prefect_defender.flows.contain import contain_device

    quiet_emulator.admin.reset_stats()
    for bad in ({"isolation_type": "Partial"}, {"machine_ids": "not-a-list-" + "a" * 40}):
        with pytest.raises(ParameterTypeError):
            run(contain_device(credentials=flow_blocks["app"], **bad))
    assert emulator_traffic(quiet_emulator) == 0
