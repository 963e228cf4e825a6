"""The kinds of parameter value driving the bad-input suite, found from each parameter's type.

A kind knows three things about a value:

* ``valid(ctx)``: a hypothesis strategy of values validation must accept;
* ``invalid(ctx)``: a strategy of values that must raise our ``ValidationError`` naming the
  parameter before anything is sent (``None``: the kind is not fuzzed, ``note`` says why);
* ``baseline(ctx)``: the value used for this parameter while another one is fuzzed.

A parameter's kind comes from its annotated *type* (:func:`kind_for`): an input type of
``api.input_types`` by its check (``MachineId`` -> machine ids), a model or a custom enum by
the annotation (:data:`TYPE_KINDS`), any other enum, Literal, boolean or datetime by itself. A
new parameter of a known type is fuzzed without a new row;
``test_every_task_parameter_has_a_checkable_type`` lists those whose type has no kind.
"""

from __future__ import annotations

import collections.abc
import functools
import operator
import string
import types
import typing
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any

from hypothesis import strategies as st
from pydantic import BaseModel

from prefect_defender.api.input_types import check_of

__all__ = [
    "KINDS",
    "TYPE_KINDS",
    "Ctx",
    "Kind",
    "enum_values",
    "kind_for",
]

# -- building blocks ------------------------------------------------------------------------
HEX = "0123456789abcdefABCDEF"
#: control characters every free-text check refuses (tab, newline and CR are allowed)
CONTROL = [chr(c) for c in range(32) if c not in (9, 10, 13)] + ["\x7f"]
#: printable text without control characters or surrogates
SAFE_CHARS = st.characters(blacklist_categories=("Cs", "Cc"))
INJECTION = [
    "' or 1 eq 1 or '",
    "x'); DROP TABLE machines; --",
    '" | union DeviceInfo | take 1 //',
    "Active&$top=1",
    "a%27%20or%201%20eq%201",
    "$expand=*",
    "../../../etc/passwd",
]


def hexstr(n: int) -> st.SearchStrategy[str]:
    return st.text(HEX, min_size=n, max_size=n)


def with_control(base: st.SearchStrategy[str] | None = None) -> st.SearchStrategy[str]:
    """A text with one control character inside it (not at an end, where strip() removes it)."""
    if base is None:
        base = st.text(string.ascii_letters + string.digits, min_size=1, max_size=20)
    return st.builds(
        lambda a, c, b: a + c + b, base, st.sampled_from(CONTROL), st.text("xyz", min_size=1)
    )


def not_a_str() -> st.SearchStrategy[Any]:
    """Values of the wrong type for a text parameter (never falsy: those mean "not given")."""
    return st.one_of(
        st.integers().filter(bool), st.just(1.5), st.lists(st.integers(), min_size=1, max_size=2)
    )


def free_text(min_size: int = 1, max_size: int = 200) -> st.SearchStrategy[str]:
    """Printable text (injection attempts included: they must be escaped, not refused)."""
    return st.one_of(
        st.text(SAFE_CHARS, min_size=min_size, max_size=max_size).filter(lambda s: s.strip()),
        st.sampled_from(INJECTION),
    )


def oversize(n: int) -> st.SearchStrategy[str]:
    return st.integers(n + 1, n + 500).map(lambda k: "a" * k)


@dataclass(frozen=True)
class Ctx:
    """What strategies may depend on: the emulator tenant and a seeded machine."""

    tenant_id: str
    machine_id: str
    machine_name: str
    tmp_dir: str


Strategy = Callable[[Ctx], st.SearchStrategy[Any]]


@dataclass(frozen=True)
class Kind:
    """One kind of parameter value (see the module docstring)."""

    name: str
    valid: Strategy | None
    invalid: Strategy | None
    baseline: Callable[[Ctx], Any] | None = None
    note: str = ""


def _k(
    name: str,
    valid: Strategy | None,
    invalid: Strategy | None,
    baseline: Callable[[Ctx], Any] | None = None,
    note: str = "",
) -> Kind:
    return Kind(name, valid, invalid, baseline, note)


# -- the valid and invalid values of each kind ----------------------------------------------
def _guid_invalid(_: Ctx) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.sampled_from(
            [
                "",
                "not-a-guid",
                "3f2504e0-4f89-11d3-9a0c-0305e82c330",  # one digit short
                "3f2504e04f8911d39a0c0305e82c3301",  # no dashes
                "{3f2504e0-4f89-11d3-9a0c-0305e82c3301}",
                "3f2504e0-4f89-11d3-9a0c-0305e82c3301/../x",
                "contoso.onmicrosoft.com",
            ]
        ),
        st.uuids().map(lambda u: str(u) + "x"),
        st.uuids().map(lambda u: str(u).replace("-", "/", 1)),
        with_control(st.uuids().map(str)),
        st.text(string.ascii_letters + string.digits + "-", max_size=40).filter(_not_guid),
        not_a_str(),
    )


def _not_guid(s: str) -> bool:
    try:
        uuid.UUID(s)
    except ValueError:
        return True
    return len(s.strip()) != 36


def _tenant_valid(ctx: Ctx) -> st.SearchStrategy[Any]:
    return st.sampled_from([None, ctx.tenant_id, ctx.tenant_id.upper(), f" {ctx.tenant_id} "])


def _machine_id_invalid(_: Ctx) -> st.SearchStrategy[Any]:
    return st.one_of(
        hexstr(39),
        hexstr(41),
        hexstr(64),
        st.text("ghijklmnopqrstuvwxyz-_./", min_size=40, max_size=40),
        st.sampled_from(["", "   ", "../../api/machines", "contoso-ws-001", "a" * 39 + "/"]),
        with_control(hexstr(20)),
        not_a_str(),
    )


def _machine_ids_invalid(ctx: Ctx) -> st.SearchStrategy[Any]:
    good = hexstr(40)
    return st.one_of(
        # one bad id anywhere in an otherwise valid list
        st.builds(
            lambda a, bad, b: [*a, bad, *b],
            st.lists(good, max_size=3),
            _machine_id_invalid(ctx),
            st.lists(good, max_size=3),
        ),
        # a single id instead of a list
        good,
        st.just(None),
    )


def _machine_ref_invalid(_: Ctx) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.sampled_from(["", "  ", "../machines", "ws 1", "a/b", "x?y=1", "x#y", 'a"b', "a%2fb"]),
        oversize(255),
        with_control(st.text(string.ascii_lowercase, min_size=1, max_size=10)),
        not_a_str(),
    )


def _incident_invalid(_: Ctx) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.integers(max_value=0),
        st.sampled_from(["", "abc", "12; DROP", "1e3", "-1", "0x10", "1.5", "12/../1", "7", True]),
        st.floats(allow_nan=False).filter(lambda f: f != int(f) if f == f and abs(f) < 1e18 else 1),
        st.text(string.ascii_letters + " ;'", min_size=1, max_size=10),
        st.sampled_from(["\u0661\u0662\u0663", "\u0967\u0968", "1\uff12"]),  # other digits
    )


def _alert_id_invalid(_: Ctx) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.sampled_from(
            ["", ".", "..", "a/b", "../alerts", "a b", "id?x=1", "a#b", "x'y", "da%2f1"]
        ),
        oversize(200),
        with_control(st.text(string.ascii_letters, min_size=1, max_size=8)),
        not_a_str(),
    )


def _hash_invalid(lengths: tuple[int, ...]) -> Strategy:
    others = [n for n in (32, 40, 64, 128, 39, 41, 63, 65) if n not in lengths]

    def inner(_: Ctx) -> st.SearchStrategy[Any]:
        return st.one_of(
            st.sampled_from(others).flatmap(hexstr),
            st.sampled_from(lengths).flatmap(
                lambda n: st.text("ghijkz-_ ./", min_size=n, max_size=n)
            ),
            st.sampled_from(["", "not-a-hash", "sha256:" + "a" * 64]),
            with_control(hexstr(10)),
            st.integers(),
        )

    return inner


def _hash_valid(lengths: tuple[int, ...]) -> Strategy:
    return lambda _: st.sampled_from(lengths).flatmap(hexstr)


def _ip_valid(_: Ctx) -> st.SearchStrategy[Any]:
    return st.ip_addresses().map(str)


def _ip_invalid(_: Ctx) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.sampled_from(
            [
                "",
                "300.1.1.1",
                "10.0.0.0/8",
                "1.2.3",
                "::g",
                "evil.example",
                "1.2.3.4:80",
                "1.2.3.4/",
            ]
        ),
        st.tuples(st.integers(256, 999), st.integers(0, 255)).map(lambda t: f"{t[0]}.1.1.{t[1]}"),
        with_control(st.just("10.0.0.1")),
        # a zone index names a local interface (fe80::1%eth0), not a host
        st.ip_addresses(v=6).map(lambda a: f"{a}%eth0"),
        not_a_str(),
    )


_LABEL = st.text(string.ascii_lowercase + string.digits, min_size=1, max_size=20)


def _domain_valid(_: Ctx) -> st.SearchStrategy[Any]:
    return st.builds(
        lambda labels, tld: ".".join([*labels, tld]),
        st.lists(_LABEL, min_size=1, max_size=3),
        st.text(string.ascii_lowercase, min_size=2, max_size=6),
    )


def _domain_invalid(_: Ctx) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.sampled_from(
            [
                "",
                "localhost",
                "http://evil.example",
                "evil.example/path",
                "a..b",
                "-a.example",
                "1.2.3.4",
                "a b.example",
                "evil.example:443",
                "x" * 64 + ".example",
            ]
        ),
        with_control(st.just("evil.example")),
        not_a_str(),
    )


def _sam_valid(_: Ctx) -> st.SearchStrategy[Any]:
    return st.text(string.ascii_letters + string.digits + "._-$", min_size=1, max_size=30)


def _sam_invalid(_: Ctx) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.sampled_from(["", "jdoe@contoso.example", "a/b", "a b", "x[1]", "a*", "a;b", 'a"b']),
        oversize(104),
        with_control(st.just("jdoe")),
        not_a_str(),
    )


def _comment_valid(max_size: int) -> Strategy:
    return lambda _: free_text(1, max_size)


def _comment_invalid(max_len: int, required: bool) -> Strategy:
    def inner(_: Ctx) -> st.SearchStrategy[Any]:
        parts = [with_control(), oversize(max_len), not_a_str()]
        if required:
            parts.append(st.sampled_from(["", "   "]))
        return st.one_of(*parts)

    return inner


def _aware_dt(_: Ctx) -> st.SearchStrategy[Any]:
    return st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2099, 1, 1), timezones=st.just(UTC)
    )


def _dt_invalid(_: Ctx) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 1, 1)),  # naive
        st.sampled_from(["yesterday", "2024-13-45", "' or 1 eq 1", ""]),
        not_a_str(),
    )


def _positive_limit(top: int) -> Strategy:
    return lambda _: st.one_of(st.none(), st.integers(1, top))


def _int_invalid(low: int, high: int | None) -> Strategy:
    def inner(_: Ctx) -> st.SearchStrategy[Any]:
        parts = [st.integers(max_value=low - 1), st.sampled_from(["ten", "1; DROP", True])]
        if high is not None:
            parts.append(st.integers(min_value=high + 1, max_value=high * 10 + 10))
        return st.one_of(*parts)

    return inner


def _enum_valid(_: Ctx) -> st.SearchStrategy[Any]:  # resolved per parameter, see enum_values
    raise NotImplementedError


def _enum_invalid(_: Ctx) -> st.SearchStrategy[Any]:
    raise NotImplementedError


def _tag_valid(_: Ctx) -> st.SearchStrategy[Any]:
    return free_text(1, 100)


def _tag_invalid(_: Ctx) -> st.SearchStrategy[Any]:
    return st.one_of(st.sampled_from(["", "   "]), with_control(), oversize(200), not_a_str())


def _tags_invalid(_: Ctx) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.just("single-tag-not-a-list"),
        st.builds(lambda a, bad: [*a, bad], st.lists(free_text(1, 20), max_size=3), with_control()),
        st.integers(51, 80).map(lambda n: [f"t{i}" for i in range(n)]),
    )


def _kql_invalid(_: Ctx) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.sampled_from(["", "   "]),
        with_control(st.just("DeviceInfo | take 1")),
        st.just("DeviceInfo | where A == 1 " + "x" * 100_000),
        not_a_str(),
    )


def _kql_valid(_: Ctx) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.sampled_from(
            [
                "DeviceInfo | take 1",
                'DeviceNetworkEvents | where RemoteIP == "203.0.113.66" | count',
                'DeviceInfo | where DeviceName has "\'; drop" | take 1',
            ]
        ),
        free_text(1, 80),
    )


def _odata_filter_valid(_: Ctx) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), free_text(1, 100))


def _odata_filter_invalid(_: Ctx) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.sampled_from(["", "   "]),
        with_control(st.just("status eq")),
        oversize(8000),
        not_a_str(),
    )


def _surface_invalid(_: Ctx) -> st.SearchStrategy[Any]:
    return st.sampled_from(["", "GRAPH ", "splunk", "xdr; mde", "Graph'"])


def _library_name_valid(_: Ctx) -> st.SearchStrategy[Any]:
    return st.text(string.ascii_letters + string.digits + "_-", min_size=1, max_size=40).map(
        lambda s: s + ".ps1"
    )


def _library_name_invalid(_: Ctx) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.sampled_from(["", "..", "../evil.ps1", "a/b.ps1", "a\\b.ps1", "x?.ps1", "a:b.ps1"]),
        oversize(200),
        with_control(st.just("a.ps1")),
        not_a_str(),
    )


def _action_id_valid(_: Ctx) -> st.SearchStrategy[Any]:
    return st.uuids().map(str)


def _indicator_valid(_: Ctx) -> st.SearchStrategy[Any]:
    return st.builds(
        lambda ip: {
            "value": ip,
            "type": "IpAddress",
            "action": "Block",
            "title": "security-suite",
            "description": "security suite",
        },
        st.ip_addresses(v=4).map(str),
    )


def _indicator_invalid(_: Ctx) -> st.SearchStrategy[Any]:
    base = {"type": "IpAddress", "action": "Block", "title": "t", "description": "d"}
    return st.one_of(
        _ip_invalid(_).filter(lambda v: isinstance(v, str)).map(lambda v: {**base, "value": v}),
        st.just({**base, "value": "1.2.3.4", "type": "Bogus"}),
        st.just({**base, "value": "1.2.3.4", "action": "Explode"}),
        st.just({"value": "1.2.3.4"}),  # missing required fields
        st.just({**base, "value": "1.2.3.4", "title": "a\x00b"}),
        st.just({**base, "type": "FileSha256", "value": "a" * 63}),
        st.just({**base, "type": "DomainName", "value": "http://x.example/a"}),
        st.just({**base, "type": "Url", "value": "javascript:alert(1)"}),
        st.just("1.2.3.4"),
        st.just(None),
    )


def _indicators_invalid(ctx: Ctx) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.builds(
            lambda a, bad: [*a, bad],
            st.lists(_indicator_valid(ctx), max_size=2),
            _indicator_invalid(ctx),
        ),
        st.just({"value": "1.2.3.4"}),
        st.just("1.2.3.4"),
    )


def _indicator_id_invalid(_: Ctx) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.sampled_from(["", "abc", "1/2", "../1", "-1", "1 or 1", "1.5", "\u0661\u0662"]),
        with_control(st.just("12")),
        st.just(None),
    )


def _commands_valid(_: Ctx) -> st.SearchStrategy[Any]:
    return st.just([{"type": "RunScript", "params": {"ScriptName": "a.ps1"}}])


def _commands_invalid(_: Ctx) -> st.SearchStrategy[Any]:
    return st.sampled_from(
        [
            [],
            "RunScript a.ps1",
            [{"type": "FormatDisk"}],
            [{"type": "RunScript", "params": {"ScriptName": "../x.ps1"}}],
            [{"type": "GetFile", "params": {"Path": "C:\\a\x00b"}}],
            [{"type": "GetFile", "params": {"path": "C:\\a"}}],
            [None],
            [{"params": []}],
        ]
    )


def _queries_invalid(_: Ctx) -> st.SearchStrategy[Any]:
    return st.sampled_from(
        [{"a": ""}, {"a": "DeviceInfo\x00x"}, "DeviceInfo | take 1", ["DeviceInfo"], {"a": 1}]
    )


def _timespan_invalid(_: Ctx) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.sampled_from(["", "7 days", "P", "PT", "P-1D", "P7D; drop", "1w"]),
        with_control(st.just("P7D")),
    )


def _timespan_valid(_: Ctx) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.none(),
        st.integers(1, 30).map(lambda d: f"P{d}D"),
        st.integers(1, 48).map(lambda h: f"PT{h}H"),
    )


def _cve_valid(_: Ctx) -> st.SearchStrategy[Any]:
    return st.tuples(st.integers(1999, 2099), st.integers(1000, 9_999_999)).map(
        lambda t: f"CVE-{t[0]}-{t[1]}"
    )


def _cve_invalid(_: Ctx) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.sampled_from(["", "CVE-24-1", "CVE-2024", "../CVE-2024-1234", "CVE-2024-1234/x"]),
        with_control(st.just("CVE-2024-1234")),
        not_a_str(),
    )


def _software_valid(_: Ctx) -> st.SearchStrategy[Any]:
    word = st.text(string.ascii_lowercase + string.digits + "_.", min_size=1, max_size=20)
    return st.builds(lambda a, b: f"{a}-_-{b}", word, word)


def _software_invalid(_: Ctx) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.sampled_from(["", "microsoft", "microsoft/edge", "a-_-b/../c", "a-_-b c", "a-_-b?x"]),
        not_a_str(),
    )


def _ioc_values_invalid(_: Ctx) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.just("6b86b273ff34fce19d6b804eff5a3f5747ada4eaa22f1d49c01e52ddb7875b4b"),  # not a list
        st.builds(lambda bad: [bad], _hash_invalid((32, 40, 64))(_)),
        st.just([]),
    )


def _dest_valid(ctx: Ctx) -> st.SearchStrategy[Any]:
    return st.text(string.ascii_lowercase, min_size=1, max_size=10).map(
        lambda s: f"{ctx.tmp_dir}/{s}.out"
    )


def _dest_invalid(ctx: Ctx) -> st.SearchStrategy[Any]:
    return st.one_of(st.sampled_from(["", "   ", "a\x00b"]), not_a_str())


def _upload_path_invalid(ctx: Ctx) -> st.SearchStrategy[Any]:
    return st.sampled_from(["", ctx.tmp_dir, ctx.tmp_dir + "/does-not-exist.ps1"])


def _options_valid(_: Ctx) -> st.SearchStrategy[Any]:
    return st.sampled_from([{}, {"isolation_type": None}])


def _options_invalid(_: Ctx) -> st.SearchStrategy[Any]:
    return st.sampled_from(
        [{"scan_type": "Quick"}, {"sha1": "a" * 40}, {"bogus": 1}, {"isolation_type": "Partial"}]
    )


def _investigation_valid(_: Ctx) -> st.SearchStrategy[Any]:
    return st.from_regex(r"\A[A-Za-z0-9_\-]{1,40}\Z")


def _credentials_invalid(_: Ctx) -> st.SearchStrategy[Any]:
    return st.sampled_from(
        ["defender-application-credentials/soc", None, {"client_secret": "x"}, 42, b"creds"]
    )


def _lookback_days_valid(_: Ctx) -> st.SearchStrategy[Any]:
    return st.integers(1, 30)


def _report_id_valid(_: Ctx) -> st.SearchStrategy[Any]:
    return st.text(string.ascii_letters + string.digits + "-_", min_size=1, max_size=40)


def _report_id_invalid(_: Ctx) -> st.SearchStrategy[Any]:
    return st.one_of(st.sampled_from(["", "  "]), with_control(), oversize(200), not_a_str())


def _args_valid(_: Ctx) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), free_text(1, 100))


def _args_invalid(_: Ctx) -> st.SearchStrategy[Any]:
    return st.one_of(with_control(), oversize(4000), not_a_str())


def _enrich_list_invalid(_: Ctx) -> st.SearchStrategy[Any]:
    # invalid *items* become per-item "failed" outcomes (by design); the container must be a list
    return st.sampled_from(["203.0.113.66", 42, {"a": 1}])


def _flag_valid(_: Ctx) -> st.SearchStrategy[Any]:
    return st.booleans()


def _float_invalid(low: float) -> Strategy:
    return lambda _: st.one_of(
        st.floats(max_value=low, allow_nan=False, allow_infinity=False),
        st.sampled_from(["soon", float("nan")]),
    )


# -- the kinds -------------------------------------------------------------------------------
KINDS: dict[str, Kind] = {
    k.name: k
    for k in [
        _k("credentials", None, _credentials_invalid, note="the block or client under test"),
        _k("tenant_id", _tenant_valid, _guid_invalid, lambda c: None),
        _k("guid", _action_id_valid, _guid_invalid, lambda c: str(uuid.uuid4())),
        _k("machine_id", lambda _: hexstr(40), _machine_id_invalid, lambda c: c.machine_id),
        _k(
            "machine_id_optional",
            lambda _: st.one_of(st.none(), hexstr(40)),
            lambda c: _machine_id_invalid(c).filter(lambda v: v not in ("", 0)),
            lambda c: None,
        ),
        _k(
            "machine_ids",
            lambda _: st.lists(hexstr(40), min_size=1, max_size=4),
            _machine_ids_invalid,
            lambda c: [c.machine_id],
        ),
        _k(
            "machine_ref",
            lambda c: st.one_of(hexstr(40), st.just(c.machine_name), _LABEL),
            _machine_ref_invalid,
            lambda c: c.machine_id,
        ),
        _k(
            "incident_id",
            lambda _: st.integers(1, 2**31),
            _incident_invalid,
            lambda c: 1001,
        ),
        _k(
            "incident_id_optional",
            lambda _: st.one_of(st.none(), st.integers(1, 2**31)),
            lambda c: _incident_invalid(c).filter(lambda v: v not in (0, "", False)),
            lambda c: None,
        ),
        _k(
            "alert_id",
            lambda _: st.from_regex(r"\A[A-Za-z0-9_\-.:]{1,60}\Z"),
            _alert_id_invalid,
            lambda c: "da0000000000000000_0000000000",
        ),
        _k(
            "alert_id_optional",
            lambda _: st.one_of(st.none(), st.from_regex(r"\A[A-Za-z0-9_\-.:]{1,60}\Z")),
            lambda c: _alert_id_invalid(c).filter(lambda v: v not in ("", 0)),
            lambda c: None,
        ),
        _k(
            "alert_ids",
            lambda _: st.lists(st.from_regex(r"\A[A-Za-z0-9_\-]{1,40}\Z"), min_size=1, max_size=4),
            lambda c: st.one_of(
                st.builds(lambda bad: ["da1", bad], _alert_id_invalid(c)),
                st.just("da1"),
                st.just([]),
            ),
            lambda c: ["da1"],
        ),
        _k("sha1", _hash_valid((40,)), _hash_invalid((40,)), lambda c: "a" * 40),
        _k(
            "file_hash",
            _hash_valid((40, 64)),
            _hash_invalid((40, 64)),
            lambda c: "6b86b273ff34fce19d6b804eff5a3f5747ada4eaa22f1d49c01e52ddb7875b4b",
        ),
        _k("ip", _ip_valid, _ip_invalid, lambda c: "203.0.113.66"),
        _k("domain", _domain_valid, _domain_invalid, lambda c: "update-check.evil.example"),
        _k("account_name", _sam_valid, _sam_invalid, lambda c: "jdoe"),
        _k(
            "comment",
            _comment_valid(300),
            _comment_invalid(4000, required=True),
            lambda c: "security suite",
        ),
        _k(
            "comment_optional",
            lambda c: st.one_of(st.none(), free_text(1, 300)),
            _comment_invalid(4000, required=False),
            lambda c: None,
        ),
        _k(
            "short_text",  # assigned_to, owner-like fields: bounded free text
            lambda c: st.one_of(st.none(), free_text(1, 100)),
            _comment_invalid(256, required=False),
            lambda c: None,
        ),
        _k(
            "filter_text",  # values for OData eq/startswith filters: escaped, never refused
            lambda c: st.one_of(st.none(), free_text(1, 80)),
            lambda c: st.one_of(with_control(), oversize(4000), not_a_str()),
            lambda c: None,
        ),
        _k(
            "required_text",  # title/description of a created alert
            _comment_valid(200),
            _comment_invalid(4000, required=True),
            lambda c: "security suite",
        ),
        _k("report_id", _report_id_valid, _report_id_invalid, lambda c: "sec-suite-1"),
        _k("enum", _enum_valid, _enum_invalid, note="values from the annotation"),
        _k("enum_optional", _enum_valid, _enum_invalid, lambda c: None),
        _k("enum_list", _enum_valid, _enum_invalid, lambda c: None),
        _k("surface", lambda _: st.sampled_from(["graph", "xdr", "mde"]), _surface_invalid),
        _k(
            "incident_surface",  # incidents live on Graph and XDR only
            lambda _: st.sampled_from([None, "graph", "xdr"]),
            lambda c: st.one_of(_surface_invalid(c), st.just("mde")),
            lambda c: None,
        ),
        _k("datetime", _aware_dt, _dt_invalid, lambda c: datetime.now(UTC) - timedelta(hours=1)),
        _k(
            "datetime_optional",
            lambda c: st.one_of(st.none(), _aware_dt(c)),
            _dt_invalid,
            lambda c: None,
        ),
        _k("limit", _positive_limit(1000), _int_invalid(0, None), lambda c: 5),
        _k("limit_int", lambda _: st.integers(0, 1000), _int_invalid(0, None), lambda c: 5),
        _k(
            "text_default",
            lambda c: st.one_of(st.just(""), free_text(1, 300)),
            _comment_invalid(4000, required=False),
            lambda c: "",
        ),
        _k(
            "look_back_hours",
            lambda _: st.integers(1, 720),
            _int_invalid(1, 720),
            lambda c: 720,
        ),
        _k("lookback_days", _lookback_days_valid, _int_invalid(1, 30), lambda c: 30),
        _k("concurrency", lambda _: st.integers(1, 20), _int_invalid(1, 100), lambda c: 4),
        _k(
            "index",
            lambda _: st.integers(0, 5),
            lambda _: st.sampled_from([-1, "0", 1.5]),
            lambda c: 0,
        ),
        _k(
            "min_cvss",
            lambda _: st.one_of(st.none(), st.floats(0, 10)),
            lambda _: st.sampled_from([-0.1, 10.5, "high"]),
            lambda c: None,
        ),
        _k(
            "wait_seconds",
            lambda _: st.floats(0.01, 5.0),
            _float_invalid(0.0),
            lambda c: 1.0,
        ),
        _k(
            "flag",
            _flag_valid,
            None,
            note="booleans: Prefect/pydantic coerce flow parameters; tasks use truthiness",
        ),
        _k("tag", _tag_valid, _tag_invalid, lambda c: "sec-suite"),
        _k(
            "tags",
            lambda _: st.one_of(st.none(), st.lists(free_text(1, 20), max_size=5)),
            _tags_invalid,
            lambda c: None,
        ),
        _k("kql_query", _kql_valid, _kql_invalid, lambda c: "DeviceInfo | take 1"),
        _k(
            "kql_queries",
            lambda _: st.dictionaries(st.sampled_from(["a", "b"]), _kql_valid(_), min_size=1),
            _queries_invalid,
            lambda c: {"a": "DeviceInfo | take 1"},
        ),
        _k("timespan", _timespan_valid, _timespan_invalid, lambda c: None),
        _k("odata_filter", _odata_filter_valid, _odata_filter_invalid, lambda c: None),
        _k("library_name", _library_name_valid, _library_name_invalid, lambda c: "a.ps1"),
        _k("dest", _dest_valid, _dest_invalid, lambda c: f"{c.tmp_dir}/out.bin"),
        _k(
            "upload_path",
            None,
            _upload_path_invalid,
            lambda c: f"{c.tmp_dir}/upload.ps1",
            note="a local file; only missing ones are fuzzed",
        ),
        _k("commands", _commands_valid, _commands_invalid, lambda c: _COMMANDS),
        _k("args", _args_valid, _args_invalid, lambda c: None),
        _k("indicator", _indicator_valid, _indicator_invalid, lambda c: _INDICATOR),
        _k(
            "indicators",
            lambda c: st.lists(_indicator_valid(c), min_size=1, max_size=3),
            _indicators_invalid,
            lambda c: [_INDICATOR],
        ),
        _k(
            "indicator_id",
            lambda _: st.integers(1, 10**9).map(str),
            _indicator_id_invalid,
            lambda c: "1",
        ),
        _k(
            "indicator_ids",
            lambda _: st.lists(st.integers(1, 10**9).map(str), min_size=1, max_size=4),
            lambda c: st.one_of(
                st.builds(lambda bad: ["1", bad], _indicator_id_invalid(c)), st.just("1")
            ),
            lambda c: ["1"],
        ),
        _k("investigation_id", _investigation_valid, _alert_id_invalid, lambda c: "1"),
        _k("cve", _cve_valid, _cve_invalid, lambda c: "CVE-2024-12345"),
        _k("software_id", _software_valid, _software_invalid, lambda c: "microsoft-_-edge"),
        _k(
            "ioc_values",
            lambda _: st.lists(_hash_valid((32, 40, 64))(_), min_size=1, max_size=3),
            _ioc_values_invalid,
            lambda c: ["6b86b273ff34fce19d6b804eff5a3f5747ada4eaa22f1d49c01e52ddb7875b4b"],
        ),
        _k(
            "ioc_kind",
            lambda _: st.just("hash"),
            lambda _: st.sampled_from(["", "cve", "HASH", "file"]),
            lambda c: "hash",
        ),
        _k(
            "export_format",
            lambda _: st.sampled_from(["jsonl", "csv"]),
            lambda _: st.sampled_from(["xml", "", "CSV ", "../csv"]),
            lambda c: "jsonl",
        ),
        _k("action_options", _options_valid, _options_invalid, lambda c: {}),
        _k(
            "bulk_items",  # a bad item is its own failed outcome: any list of strings is taken
            lambda _: st.one_of(
                st.none(),
                st.lists(
                    st.one_of(_hash_valid((40, 64))(_), _ip_valid(_), _domain_valid(_)),
                    max_size=2,
                ),
            ),
            _enrich_list_invalid,
            lambda c: None,
        ),
    ]
}

# -- Graph beta extras (tasks/graph_security.py) -----------------------------------------------
_RULE = {
    "display_name": "security suite rule",
    "query_text": "DeviceProcessEvents | where FileName == 'x.exe' | project Timestamp, DeviceId, "
    "ReportId",
    "frequency": "P1D",
    "alert_title": "security suite",
    "alert_severity": "low",
}
_EMAIL = {
    "network_message_id": "b1f0c7a2-0000-4000-8000-000000000001",
    "recipient_email_address": "jdoe@contoso.example",
}


def _open_enum_invalid(_: Ctx) -> st.SearchStrategy[Any]:
    # documented values in any case and new camelCase words are accepted (open enums)
    return st.one_of(
        st.sampled_from(
            ["", "Soft Delete", "soft-delete", "x;y", "../hardDelete", "unknownFutureValue", "a b"]
        ),
        with_control(st.just("softDelete")),
        not_a_str(),
    )


KINDS.update(
    {
        k.name: k
        for k in [
            _k(
                "beta_opt_in",
                lambda _: st.just(True),
                lambda _: st.sampled_from([False, None, "yes", "true", 1]),
                lambda c: True,
            ),
            _k(
                "rule_id",
                lambda _: st.integers(1, 10**18).map(str),
                lambda _: st.one_of(
                    st.sampled_from(["", " ", "a b", "1/2", "../1", "1" * 200, "-1", "x;y"]),
                    with_control(st.just("12")),
                    not_a_str(),
                ),
                lambda c: "1",
            ),
            _k(
                "detection_rule",
                lambda _: st.just(dict(_RULE)),
                lambda _: st.sampled_from(
                    [
                        {},
                        {**_RULE, "query_text": ""},
                        {**_RULE, "frequency": "5X"},
                        {**_RULE, "period": "24H"},
                        {**_RULE, "alert_severity": "very bad!"},
                        {**_RULE, "display_name": "a\x00b"},
                        {k: v for k, v in _RULE.items() if k != "alert_title"},
                        "DeviceInfo | take 1",
                    ]
                ),
                lambda c: dict(_RULE),
            ),
            _k(
                "detection_rule_update",
                lambda _: st.sampled_from([{"frequency": "P1D"}, {"alert_severity": "high"}]),
                lambda _: st.sampled_from(
                    [
                        {"frequency": "5X"},
                        {"is_enabled": False},
                        {"alert_severity": "very bad!"},
                        {"query_text": ""},
                        {"query_text": "DeviceInfo\x00"},
                        "frequency=P1D",
                    ]
                ),
                lambda c: {"frequency": "P1D"},
            ),
            _k(
                "rule_frequency",
                lambda _: st.sampled_from(["PT1H", "1h", "3H", "P1D", "PT90M"]),
                lambda _: st.sampled_from(["hourly", "0H", "P", "PT30S", "P31D", "1H30", 5, ""]),
                lambda c: "PT1H",
            ),
            _k(
                "rule_status",
                lambda _: st.sampled_from(["enabled", "Disabled"]),
                lambda _: st.sampled_from(["on!", "", "unknownFutureValue", 3, "en abled"]),
                lambda c: "enabled",
            ),
            _k(
                "automated_actions",
                lambda _: st.sampled_from(
                    [None, {}, {"isolateDevices": [{"deviceIdColumn": "DeviceId"}]}]
                ),
                lambda _: st.sampled_from(
                    [
                        {"wipeDevices": []},
                        "isolateDevices",
                        [],
                        {"isolateDevices": [{"deviceIdColumn": "Device Id"}]},
                        {"isolateDevices": [{"deviceIdColumn": "DeviceId", "isolationType": "x"}]},
                        {"runAntivirusScans": [{"sha1Column": "SHA1"}]},
                    ]
                ),
                lambda c: None,
            ),
            _k(
                "remediation_action",
                lambda _: st.sampled_from(
                    ["moveToJunk", "moveToInbox", "hardDelete", "softDelete", "moveToDeletedItems"]
                ),
                _open_enum_invalid,
                lambda c: "softDelete",
            ),
            _k(
                "remediation_severity",
                lambda _: st.sampled_from(["low", "medium", "high", "High"]),
                _open_enum_invalid,
                lambda c: "medium",
            ),
            _k(
                "analyzed_emails",
                lambda _: st.lists(
                    st.uuids().map(lambda u: {**_EMAIL, "network_message_id": str(u)}),
                    min_size=1,
                    max_size=3,
                ),
                lambda _: st.sampled_from(
                    [
                        [{**_EMAIL, "network_message_id": "not-a-guid"}],
                        [{**_EMAIL, "recipient_email_address": "nobody"}],
                        [{"network_message_id": _EMAIL["network_message_id"]}],
                        [{"id": "../x"}],
                        [],
                        "jdoe@contoso.example",
                        [_EMAIL] * 1001,
                    ]
                ),
                lambda c: [dict(_EMAIL)],
            ),
            _k(
                "upn_optional",
                lambda _: st.sampled_from([None, "approver@contoso.example"]),
                lambda _: st.one_of(
                    st.sampled_from(["nobody", "a@b", "@contoso.example", "a b@contoso.example"]),
                    with_control(st.just("a@contoso.example")),
                    not_a_str(),
                ),
                lambda c: None,
            ),
        ]
    }
)

# -- identity response (tasks/identities/) ------------------------------------------------------
_UPNS = ["ckent@contoso.example", "dprince@contoso.example", "nobody@contoso.example"]
_BAD_USERS = ["", "jdoe", "a b@contoso.example", "x@y", "@contoso.example", "a@b.com/x", "../x"]


def _identity_users_valid(_: Ctx) -> st.SearchStrategy[Any]:
    one = st.one_of(st.sampled_from(_UPNS), st.uuids().map(str))
    return st.lists(one, min_size=1, max_size=3)


def _identity_users_invalid(_: Ctx) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.sampled_from(_BAD_USERS).map(lambda v: [v]),
        st.sampled_from(["ckent@contoso.example", [], 42]),
        with_control(st.just("ckent@contoso.example")).map(lambda v: [v]),
        st.just([1]),
    )


def _choice_lists(values: list[str], bad: list[Any]) -> tuple[Strategy, Strategy]:
    return (
        lambda _: st.lists(st.sampled_from(values), min_size=1, max_size=3),
        lambda _: st.sampled_from(bad),
    )


_ACTIONS = ["disable", "enable", "revokeAllSessions", "requireUserToSignInAgain"]
_ACTIONS_VALID, _ACTIONS_INVALID = _choice_lists(
    _ACTIONS, [["Disable"], ["wipe"], [], "disable", [1], ["disable"] * 7]
)
_PROVIDERS_VALID, _PROVIDERS_INVALID = _choice_lists(
    ["entraID", "activeDirectory", "okta"], [["azuread"], ["EntraID"], [], "entraID", [None]]
)

KINDS.update(
    {
        k.name: k
        for k in [
            _k(
                "identity_users",
                _identity_users_valid,
                _identity_users_invalid,
                lambda c: ["ckent@contoso.example"],
            ),
            _k(
                "risky_user_ids",
                lambda _: st.lists(st.uuids().map(str), min_size=1, max_size=3),
                lambda _: st.one_of(
                    st.sampled_from(
                        [["ckent@contoso.example"], ["x"], [], "00000000-0000-4000-8000-0000"]
                    ),
                    st.sampled_from(_BAD_USERS).map(lambda v: [v]),
                ),
                lambda c: [str(uuid.uuid4())],
            ),
            _k(
                "risky_user_id",
                lambda _: st.uuids().map(str),
                lambda _: st.one_of(
                    st.sampled_from(["ckent@contoso.example", "x", "", "../x"]), not_a_str()
                ),
                lambda c: str(uuid.uuid4()),
            ),
            _k(
                "user_ref_optional",
                lambda _: st.one_of(st.none(), st.sampled_from(_UPNS), st.uuids().map(str)),
                lambda _: st.one_of(st.sampled_from(_BAD_USERS[1:]), not_a_str()),
                lambda c: None,
            ),
            _k(
                "user_ref",
                lambda _: st.one_of(st.sampled_from(_UPNS), st.uuids().map(str)),
                lambda _: st.one_of(st.sampled_from(_BAD_USERS), not_a_str()),
                lambda c: "ckent@contoso.example",
            ),
            _k(
                "identity_id",
                lambda _: st.text(string.ascii_letters + string.digits + "-", min_size=1).filter(
                    lambda v: v[0].isalnum()
                ),
                lambda _: st.one_of(
                    st.sampled_from(["", " ", "a/b", "../x", "a?b", "a b", "-x"]),
                    with_control(),
                    not_a_str(),
                ),
                lambda c: "0104216-0539-4838-88b1-55baafdc296b",
            ),
            _k(
                "identity_actions",
                _ACTIONS_VALID,
                _ACTIONS_INVALID,
                lambda c: ["revokeAllSessions"],
            ),
            _k(
                "identity_providers",
                lambda c: st.one_of(st.none(), _PROVIDERS_VALID(c)),
                _PROVIDERS_INVALID,
                lambda c: None,
            ),
            _k(
                "required_flag",  # a bool the call needs: never coerced from other types
                lambda _: st.booleans(),
                lambda _: st.sampled_from(["false", "true", 0, 1, None, [True]]),
                lambda c: True,
            ),
            _k(
                "risk_level",
                lambda _: st.sampled_from([None, "low", "medium", "high", "hidden", "none"]),
                lambda _: st.one_of(st.sampled_from(["severe", "High", " high", ""]), not_a_str()),
                lambda c: None,
            ),
            _k(
                "risk_state",
                lambda _: st.sampled_from([None, "atRisk", "confirmedCompromised", "dismissed"]),
                lambda _: st.one_of(st.sampled_from(["AtRisk", "compromised", ""]), not_a_str()),
                lambda c: None,
            ),
        ]
    }
)

# -- Sigma hunts (tasks/sigma.py) -----------------------------------------------------------------
_CONVERSION = {
    "source": "security-suite.yml",
    "rule_id": "sec-suite-1",
    "title": "security suite",
    "status": "converted",
    "kql": 'DeviceProcessEvents | where FileName =~ "invoice_update.exe"',
}

KINDS.update(
    {
        k.name: k
        for k in [
            _k(
                "sigma_conversions",
                lambda _: st.just([dict(_CONVERSION)]),
                lambda _: st.sampled_from(
                    [
                        [{}],
                        [{**_CONVERSION, "status": "teleported"}],
                        [{k: v for k, v in _CONVERSION.items() if k != "title"}],
                        [{**_CONVERSION, "kql": "DeviceInfo\x00 | take 1"}],
                        "DeviceInfo | take 1",
                        [42],
                    ]
                ),
                lambda c: [dict(_CONVERSION)],
            ),
            _k(
                "lookback_hours",
                lambda _: st.integers(1, 720),
                _int_invalid(1, 720),
                lambda c: 24,
            ),
        ]
    }
)

_COMMANDS = [{"type": "RunScript", "params": {"ScriptName": "a.ps1"}}]
_INDICATOR = {
    "value": "198.51.100.200",
    "type": "IpAddress",
    "action": "Block",
    "title": "security-suite",
    "description": "security suite",
}

# -- the generic endpoint task (tasks/generic.py) ------------------------------------------------
_SEGMENT_BAD = ["", " ", ".", "..", "a/b", "a?b", "a#b", "a\\b", "a\x00b", "x" * 513]

KINDS.update(
    {
        k.name: k
        for k in [
            # the baseline endpoint is a collection without path parameters
            _k(
                "endpoint_name",
                lambda _: st.sampled_from(
                    ["mde.machines.list", "xdr.incidents.list", "graph.incidents.list"]
                ),
                lambda _: st.one_of(
                    st.sampled_from(["", " ", "mde.machines", "mde.machines.gett", "../x"]),
                    st.text("abcxyz.", min_size=1, max_size=12),
                    st.just("mde.machines.get"),  # needs a path parameter the baseline lacks
                    not_a_str(),
                ),
                lambda c: "mde.machines.list",
            ),
            _k(
                "endpoint_path_params",
                lambda _: st.sampled_from([None, {}]),
                lambda c: st.one_of(
                    st.sampled_from(_SEGMENT_BAD).map(lambda v: {"id": v}),
                    st.just({"id": c.machine_id}),  # the list endpoint takes none
                    st.just({"id": True}),
                    st.just({"id": [c.machine_id]}),
                ),
                lambda c: None,
            ),
            _k(
                "endpoint_query",
                lambda _: st.one_of(
                    st.none(),
                    st.just({"$select": "id,computerDnsName"}),
                    st.just({"$filter": "healthStatus eq 'Active'", "$top": 5}),
                ),
                lambda _: st.one_of(
                    st.sampled_from(
                        [
                            {"$top": -1},
                            {"$top": "5"},
                            {"$skip": 1.5},
                            {"$format": "xml"},
                            {"a b": "1"},
                            {"x": ["1"]},
                            {"$filter": ""},
                            {"$filter": "a\x00b"},
                            {1: "x"},
                        ]
                    ),
                ),
                lambda c: None,
            ),
            _k(
                "endpoint_body",
                lambda _: st.just(None),
                lambda _: st.sampled_from([{"Comment": "x"}, [1], "text", 5]),
                lambda c: None,
            ),
        ]
    }
)


# -- machine actions as playbooks take them (tasks/action_plans.py) ------------------------------
def _plan(c: Ctx) -> list[Any]:
    from prefect_defender.tasks.action_fan_out import PlannedAction

    return [PlannedAction(machine_id=c.machine_id, action="RunAntiVirusScan")]


def _policy(**fields: Any) -> Any:
    from prefect_defender.tasks.safety import SafetyPolicy

    return SafetyPolicy(**fields)


def _dry_guard(_: Ctx) -> Any:
    from prefect_defender.tasks.safety import SafetyPolicy, WriteGuard

    return WriteGuard(SafetyPolicy(dry_run=True))


KINDS.update(
    {
        k.name: k
        for k in [
            _k(
                "action_plan",
                lambda c: st.just(_plan(c)),
                lambda c: st.sampled_from(
                    [
                        "RunAntiVirusScan",
                        42,
                        {"machine_id": c.machine_id},
                        [{"machine_id": c.machine_id}],  # no action
                        [{"machine_id": c.machine_id, "action": "Teleport"}],
                        [{"machine_id": "not-a-machine", "action": "Isolate"}],
                        [
                            {
                                "machine_id": c.machine_id,
                                "action": "Isolate",
                                "options": {"isolation_type": "Partial"},
                            }
                        ],
                        [42],
                    ]
                ),
                _plan,
            ),
            _k(
                "write_guard",
                None,
                None,
                _dry_guard,
                note="built by the playbook from its SafetyPolicy (a dry-run guard here)",
            ),
            _k(
                "run_key",
                lambda _: st.one_of(
                    st.none(), st.text("0123456789abcdef", min_size=1, max_size=16)
                ),
                None,
                lambda c: None,
                note="a local idempotency key written into the comment",
            ),
            _k(
                "action_outcomes",
                lambda _: st.just([]),
                lambda _: st.sampled_from(["succeeded", 42, {"item": "x"}]),
                lambda c: [],
            ),
        ]
    }
)


# -- the connectivity check and the poller's read (tasks/connectivity.py, incident_polling.py) --
def _checkpoint(_: Ctx) -> Any:
    from prefect_defender.tasks.incident_polling import Checkpoint

    return Checkpoint()


KINDS.update(
    {
        k.name: k
        for k in [
            _k("sample", lambda _: st.integers(1, 50), _int_invalid(1, 1000), lambda c: 5),
            _k(
                "page_size",
                lambda _: st.integers(1, 5000),  # above 1,000 it is asked as 1,000
                _int_invalid(1, None),
                lambda c: 1000,
            ),
            _k(
                "checkpoint",
                lambda c: st.just(_checkpoint(c)),
                lambda _: st.sampled_from(
                    [
                        "yesterday",
                        42,
                        {"last_update": "not a time"},
                        {"recent": 5},
                        {"ids_at_last_update": ["one"]},
                    ]
                ),
                _checkpoint,
            ),
            _k(
                "lookback_timedelta",
                lambda _: st.integers(1, 72).map(lambda h: timedelta(hours=h)),
                lambda _: st.sampled_from([timedelta(0), timedelta(hours=-1), "24h", 24, None]),
                lambda c: timedelta(hours=1),
            ),
        ]
    }
)

# -- planning and storing packages (tasks/action_plans.py, tasks/machine_actions/) ------------
KINDS.update(
    {
        k.name: k
        for k in [
            _k(
                "action_types",
                lambda _: st.sampled_from([["RunAntiVirusScan"], ["Isolate", "Unisolate"]]),
                lambda _: st.sampled_from([[], "Isolate", ["Teleport"], [42], None]),
                lambda c: ["RunAntiVirusScan"],
            ),
            _k(
                "playbook_action_options",  # options of several action types; each takes its own
                lambda _: st.sampled_from(
                    [
                        None,
                        {},
                        {"scan_type": "Full"},
                        {"isolation_type": "Selective", "scan_type": "Full"},
                    ]
                ),
                lambda _: st.sampled_from(
                    [{"bogus": 1}, {"scan_type": "Weekly"}, {"scan_type": "Partial"}, "Full", 42]
                ),
                lambda c: None,
            ),
            _k(
                "safety_policy",
                lambda _: st.sampled_from(
                    [None, _policy(dry_run=True), _policy(max_actions_per_run=5)]
                ),
                lambda _: st.sampled_from(["strict", 42, {"max_actions_per_run": "many"}]),
                lambda c: None,
            ),
            _k(
                "packages",
                lambda _: st.just({}),
                lambda c: st.sampled_from(
                    [
                        "a.zip",
                        42,
                        {"../a.zip": str(uuid.uuid4())},
                        {"a/b.zip": str(uuid.uuid4())},
                        {"": str(uuid.uuid4())},
                        {"a.zip": "not-a-guid"},
                        {"a.zip": 42},
                    ]
                ),
                lambda c: {},
            ),
            _k(
                "storage_block",
                lambda _: st.just(None),
                lambda _: st.sampled_from(["s3-bucket/ir", 42, {"write_path": 1}]),
                lambda c: None,
                note="a Prefect filesystem block object (anything with write_path)",
            ),
        ]
    }
)


# -- the kind of each parameter type -------------------------------------------------------------
def _type_kinds() -> dict[tuple[Any, bool | None], str]:
    """(type, optional) -> kind. A type is an input type's check name (``"MachineId"``, a list of
    them as ``"list[MachineId]"``) or the annotation itself (models, custom enums); ``None`` for
    optional means either. Enums, Literals, booleans and datetimes need no row (:func:`kind_for`).
    """
    from prefect_defender.api.models.graph_security import (
        AnalyzedEmailRef,
        DetectionRuleInput,
        DetectionRuleUpdate,
    )
    from prefect_defender.api.models.hunting import HuntingSurface
    from prefect_defender.api.models.identities import IdentityAction, IdentityProvider
    from prefect_defender.api.models.incidents import IncidentSurface
    from prefect_defender.api.models.indicators import IndicatorInput
    from prefect_defender.api.models.machine_actions import ActionType
    from prefect_defender.api.sigma import SigmaConversion
    from prefect_defender.tasks.action_fan_out import PlannedAction
    from prefect_defender.tasks.base import DefenderCredentialsLike
    from prefect_defender.tasks.incident_polling import Checkpoint
    from prefect_defender.tasks.outcomes import ItemOutcome
    from prefect_defender.tasks.safety import SafetyPolicy, WriteGuard

    by_check = {
        "TenantId": "tenant_id",
        "ActionId": "guid",
        "MachineId": "machine_id",
        ("MachineId", True): "machine_id_optional",
        "list[MachineId]": "machine_ids",
        "MachineRef": "machine_ref",
        "IncidentId": "incident_id",
        ("IncidentId", True): "incident_id_optional",
        "AlertId": "alert_id",
        ("AlertId", True): "alert_id_optional",
        "list[AlertId]": "alert_ids",
        "Sha1": "sha1",
        "FileSha1": "sha1",
        "FileHash": "file_hash",
        "IpAddress": "ip",
        "Domain": "domain",
        "AccountName": "account_name",
        "ActionComment": "comment",
        "InvestigationComment": "comment",
        "RequiredText": "required_text",
        ("RequiredText", True): "comment_optional",
        "Text": "text_default",
        ("Text", True): "comment_optional",
        "ShortText": "short_text",
        "FilterText": "filter_text",
        "ReportId": "report_id",
        "Limit": "limit_int",
        ("Limit", True): "limit",
        "LookBackHours": "look_back_hours",
        "LookbackDays": "lookback_days",
        "HuntLookbackHours": "lookback_hours",
        "Concurrency": "concurrency",
        "Index": "index",
        "Cvss": "min_cvss",
        "Seconds": "wait_seconds",
        "Sample": "sample",
        "PageSize": "page_size",
        "Lookback": "lookback_timedelta",
        "Tag": "tag",
        "Tags": "tags",
        "KqlQuery": "kql_query",
        "KqlQueries": "kql_queries",
        "Timespan": "timespan",
        "ODataFilterText": "odata_filter",
        "LibraryFileName": "library_name",
        "LocalPath": "dest",
        "ExistingFile": "upload_path",
        "LiveCommands": "commands",
        "LiveResponseText": "required_text",
        ("LiveResponseText", True): "args",
        "IndicatorId": "indicator_id",
        "list[IndicatorId]": "indicator_ids",
        "InvestigationId": "investigation_id",
        "VulnerabilityId": "cve",
        "SoftwareId": "software_id",
        "IocValues": "ioc_values",
        "ActionOption": "action_options",
        "BulkItems": "bulk_items",
        "BetaOptIn": "beta_opt_in",
        "RuleId": "rule_id",
        "RuleFrequency": "rule_frequency",
        "RuleStatus": "rule_status",
        "AutomatedActions": "automated_actions",
        "EmailRemediationAction": "remediation_action",
        "EmailRemediationSeverity": "remediation_severity",
        "EmailAddress": "upn_optional",
        "UserRefs": "identity_users",
        "list[UserObjectId]": "risky_user_ids",
        "UserObjectId": "risky_user_id",
        "UserRef": "user_ref",
        ("UserRef", True): "user_ref_optional",
        "OpaqueId": "identity_id",
        "StrictBool": "required_flag",
        "RiskLevel": "risk_level",
        "RiskState": "risk_state",
        "EndpointName": "endpoint_name",
        "PathParams": "endpoint_path_params",
        "QueryParams": "endpoint_query",
        "RequestBody": "endpoint_body",
        "ActionOptions": "playbook_action_options",
        "PackageFiles": "packages",
        "WritableStorage": "storage_block",
        "RunKey": "run_key",
        "MachineActionStatus": "enum_optional",
        "IndicatorListAction": "enum_optional",
    }
    by_type: dict[Any, str] = {
        DefenderCredentialsLike: "credentials",
        list[PlannedAction]: "action_plan",
        WriteGuard: "write_guard",
        list[ItemOutcome]: "action_outcomes",
        list[ActionType]: "action_types",
        SafetyPolicy: "safety_policy",
        Checkpoint: "checkpoint",
        IndicatorInput | dict[str, Any]: "indicator",
        list[IndicatorInput | dict[str, Any]]: "indicators",
        list[IndicatorInput]: "indicators",
        DetectionRuleInput | dict[str, Any]: "detection_rule",
        DetectionRuleUpdate | dict[str, Any]: "detection_rule_update",
        list[AnalyzedEmailRef | dict[str, Any]]: "analyzed_emails",
        collections.abc.Sequence[SigmaConversion | dict[str, Any]]: "sigma_conversions",
        list[IdentityAction]: "identity_actions",
        list[IdentityProvider]: "identity_providers",
        HuntingSurface | str: "surface",
        IncidentSurface | str: "incident_surface",
        typing.Literal["jsonl", "csv"]: "export_format",
        typing.Literal["hash", "ip", "domain", "url", "account"]: "ioc_kind",
    }
    out: dict[tuple[Any, bool | None], str] = {}
    for key, kind in by_check.items():
        out[key if isinstance(key, tuple) else (key, None)] = kind
    for annotation, kind in by_type.items():
        out[(annotation, None)] = kind
    return out


TYPE_KINDS = _type_kinds()


def _explicit_enums() -> dict[str, list[str]]:
    from prefect_defender.api.resources.indicators import _READ_ACTIONS
    from prefect_defender.api.resources.machine_actions import _STATUSES

    return {"MachineActionStatus": list(_STATUSES), "IndicatorListAction": sorted(_READ_ACTIONS)}


#: input types of enum-like ``str`` values: the values their client accepts
EXPLICIT_ENUM_VALUES = _explicit_enums()


def _members(annotation: Any) -> list[Any]:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return [m for a in typing.get_args(annotation) for m in _members(a)]
    return [annotation]


def type_key(annotation: Any) -> tuple[Any, bool]:
    """``(type, optional)`` of an annotation: an input type by its check's name (a list of
    them as ``"list[Name]"``), anything else as itself without ``None``."""
    members = _members(annotation)
    optional = type(None) in members
    kinds = [m for m in members if m is not type(None)]
    if len(kinds) == 1:
        check = check_of(kinds[0])
        if check is not None:
            return check.name, optional
        args = typing.get_args(kinds[0])
        if typing.get_origin(kinds[0]) is list and args and check_of(args[0]) is not None:
            return f"list[{check_of(args[0]).name}]", optional  # type: ignore[union-attr]
    rest: Any = kinds[0] if len(kinds) == 1 else functools.reduce(operator.or_, kinds)
    return rest, optional


def explicit_enum(annotation: Any) -> list[str]:
    """The values of an enum-like input type (``MachineActionStatus``), else ``[]``."""
    name, _ = type_key(annotation)
    return EXPLICIT_ENUM_VALUES.get(name, []) if isinstance(name, str) else []


def kind_for(annotation: Any, variadic: bool = False) -> Kind | None:
    """The kind of a parameter annotated ``annotation`` (``None``: its type has no kind, a
    gap ``test_every_task_parameter_has_a_checkable_type`` lists).

    From the type alone: the table of input types and models (:data:`TYPE_KINDS`), then enums
    and Literals (required when ``None`` is not allowed, a list of them), booleans, datetimes.
    """
    key, optional = type_key(annotation)
    name = TYPE_KINDS.get((key, optional)) or TYPE_KINDS.get((key, None))
    if name is None and not variadic:
        name = _generic_kind(annotation, key, optional)
    return KINDS.get(name) if name else None


def _generic_kind(annotation: Any, key: Any, optional: bool) -> str | None:
    if key is bool:
        return "flag"
    if key is datetime:
        return "datetime_optional" if optional else "datetime"
    if enum_values(annotation):  # an Enum or Literal (``OpenChoice[E]`` too), or a list of one
        if typing.get_origin(key) is list:
            return "enum_list"
        return "enum_optional" if optional else "enum"
    return None


def enum_values(annotation: Any) -> list[str]:
    """The allowed values of an Enum/Literal annotation (``X | str | None`` included)."""
    out: list[str] = []
    stack = [annotation]
    while stack:
        a = stack.pop()
        if isinstance(a, type) and issubclass(a, Enum):
            out += [str(m.value) for m in a]
        elif typing.get_origin(a) is typing.Literal:
            out += [str(v) for v in typing.get_args(a)]
        else:
            stack += list(typing.get_args(a))
    return out


#: arguments some tasks need to get past their own cross-field checks while one is fuzzed
TASK_BASELINES: dict[str, dict[str, Any]] = {
    "update_incident": {"status": "Active"},
    "update_graph_incident": {"status": "active"},
    "update_alert": {"status": "InProgress"},
    "update_graph_alert": {"status": "inProgress"},
    "batch_update_alerts": {"status": "Resolved"},
}

#: (task, parameter) -> enum values the task refuses on purpose (documented): they are left out
#: of the valid values and added to the invalid ones
ENUM_REFUSED: dict[tuple[str, str], set[str]] = {
    ("update_graph_incident", "status"): {"awaitingAction"},  # set by Microsoft only
    ("request_machine_actions", "action"): {"LiveResponse"},  # the live response tasks do it
}

#: (task, parameter) -> valid values narrower than the kind's
VALID_OVERRIDES: dict[tuple[str, str], Strategy] = {
    # the API searches +/- 15 minutes around a time within the last 30 days
    ("find_machines_by_ip", "timestamp"): lambda _: st.integers(1, 29 * 24).map(
        lambda h: datetime.now(UTC) - timedelta(hours=h)
    ),
    # StopAndQuarantineFile needs a sha1 option; the other actions take no options here
    ("request_machine_actions", "action"): lambda _: st.sampled_from(
        ["Isolate", "Unisolate", "RestrictCodeExecution", "RunAntiVirusScan"]
    ),
}

#: (task, parameter) whose valid values depend on another parameter: not fuzzed alone
VALID_ONLY_WITH_OTHERS: dict[tuple[str, str], str] = {
    ("update_incident", "determination"): "a determination needs a matching classification",
    ("update_alert", "determination"): "a determination needs a matching classification",
    ("batch_update_alerts", "determination"): "a determination needs a matching classification",
}

_BOGUS = st.one_of(
    st.sampled_from(["Bogus", "Active' or 1 eq 1", "high; drop", "Full ", "../Full", "FULL_"]),
    st.text("abcxyz", min_size=1, max_size=6),
)


def _norm(v: str) -> str:
    return v.lower().replace("_", "").replace(" ", "")


def enum_strategies(
    values: list[str], kind: str, required: bool, refused: set[str] | None = None
) -> tuple[st.SearchStrategy[Any], st.SearchStrategy[Any]]:
    """``(valid, invalid)`` for an enum parameter with ``values``.

    An optional enum treats ``""`` like "not given"; a required one must refuse it. ``refused``
    values are documented refusals of the task: invalid, not valid.
    """
    refused = refused or set()
    known = {_norm(v) for v in values}
    values = [v for v in values if v not in refused]
    bad = _BOGUS.filter(lambda s: _norm(s) not in known)
    if refused:
        bad = st.one_of(bad, st.sampled_from(sorted(refused)))
    if required:
        bad = st.one_of(bad, st.just(""), not_a_str())
    if kind == "enum_list":
        return (
            st.lists(st.sampled_from(values), min_size=1, max_size=3),
            st.one_of(bad.map(lambda b: [values[0], b]), st.just(values[0] + "x")),
        )
    return st.sampled_from(values), bad


# -- playbook (flow) parameters ---------------------------------------------------------------
#: (type, optional) -> kind of :data:`FLOW_KINDS` a playbook parameter of that type is fuzzed
#: with through ``flow.fn`` (Prefect validates the base type of flow parameters before a run;
#: the playbooks check the values). Other types are not fuzzed here: :func:`flow_kind_for`
#: says why (a boolean, a Literal Prefect refuses, a model, a type checked where it is used).
FLOW_TYPE_KINDS: dict[tuple[str, bool | None], str] = {
    ("BlockRef", None): "block_ref",
    ("IncidentId", None): "incident_id_optional",
    ("AlertId", True): "alert_id_optional",
    ("list[MachineId]", None): "flow_machine_ids",
    ("TenantId", None): "tenant_id",
    ("list[TenantId]", None): "flow_tenant_ids",
    ("IocValues", None): "flow_ioc_values",
    ("list[UserRef]", None): "flow_users",
    ("LookbackDays", None): "lookback_days",
    ("KqlQuery", None): "kql_query",
}


def flow_kind_for(annotation: Any) -> tuple[Kind | None, str]:
    """The kind a playbook parameter is fuzzed with, or ``None`` and why it is not (``""``: its
    type is not checkable, a gap ``test_every_flow_parameter_has_a_checkable_type`` lists)."""
    key, optional = type_key(annotation)
    if isinstance(key, str):
        name = FLOW_TYPE_KINDS.get((key, optional)) or FLOW_TYPE_KINDS.get((key, None))
        if name:
            return FLOW_KINDS[name], ""
    return None, _not_fuzzed(annotation, key)


def _not_fuzzed(annotation: Any, key: Any) -> str:
    if key is bool:
        return "boolean"
    if enum_values(annotation):
        return "an Enum or Literal: refused by Prefect's parameter validation"
    if isinstance(key, type) and issubclass(key, BaseModel):
        return "a pydantic model with its own field constraints"
    checks = [c for m in _members(annotation) for c in (check_of(m), _item_check(m)) if c]
    if checks and checks[0].in_context:
        return f"checked by {checks[0].in_context}"
    if checks:
        return f"checked on entry by its type ({checks[0].name}); fuzzed in the task suite"
    return ""


def _item_check(annotation: Any) -> Any:
    args = typing.get_args(annotation)
    return check_of(args[0]) if typing.get_origin(annotation) is list and args else None


def _block_ref_invalid(_: Ctx) -> st.SearchStrategy[Any]:
    return st.sampled_from(
        [
            "no-slash-here",
            "defender-application-credentials/does-not-exist",
            "secret/soc",
            "../../etc/passwd",
        ]
    )


def _flow_machine_ids_invalid(ctx: Ctx) -> st.SearchStrategy[Any]:
    return st.builds(
        lambda bad: [ctx.machine_id, bad],
        st.sampled_from(["../../api/machines", "a" * 39 + "/", "ws 1", "x?$top=1", "a\x00b"]),
    )


def _flow_tenant_ids_invalid(_: Ctx) -> st.SearchStrategy[Any]:
    return st.builds(lambda bad: [bad], _guid_invalid(_).filter(lambda v: isinstance(v, str) and v))


def _flow_ioc_invalid(_: Ctx) -> st.SearchStrategy[Any]:
    return st.builds(lambda bad: [bad], _hash_invalid((32, 40, 64))(_).filter(lambda v: v != ""))


FLOW_KINDS: dict[str, Kind] = {
    "block_ref": _k("block_ref", None, _block_ref_invalid),
    "flow_machine_ids": _k("flow_machine_ids", None, _flow_machine_ids_invalid),
    "flow_tenant_ids": _k("flow_tenant_ids", None, _flow_tenant_ids_invalid),
    "flow_ioc_values": _k("flow_ioc_values", None, _flow_ioc_invalid),
    "flow_users": _k(
        "flow_users",
        None,
        lambda _: st.sampled_from(_BAD_USERS[1:]).map(lambda v: [v]),
    ),
    "tenant_id": _k(
        "tenant_id", None, lambda c: _guid_invalid(c).filter(lambda v: v != "" and v != 0)
    ),
    "incident_id_optional": KINDS["incident_id_optional"],
    "alert_id_optional": KINDS["alert_id_optional"],
    "lookback_days": KINDS["lookback_days"],
    "kql_query": _k("kql_query", None, lambda c: _kql_invalid(c).filter(lambda v: bool(v))),
}
