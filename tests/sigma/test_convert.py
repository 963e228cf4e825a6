"""Sigma conversion without the network: corrections, refusals with reasons, input checks.

The conversion runs the real pySigma + pysigma-backend-kusto and the real local checks
(duckdb-kql over an in-memory DuckDB with Defender's schema); nothing is mocked.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import duckdb_kql
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from prefect_defender.api.errors import ValidationError
from prefect_defender.api.sigma import (
    MAX_RULES,
    ConversionStatus,
    check_lookback,
    check_query_locally,
    convert_rules,
    hunt_query,
    load_rule_sources,
)
from prefect_defender.flows.sigma import EXAMPLE_RULES, sigma_event_id, window_start
from prefect_defender.tasks.sigma import convert_sigma_rules

PROC = "logsource: {category: process_creation, product: windows}"


def rule(detection: str, *, title: str = "t", logsource: str = PROC, extra: str = "") -> str:
    """A Sigma rule with ``detection`` (YAML lines under ``detection:``)."""
    body = textwrap.indent(textwrap.dedent(detection).strip(), "  ")
    return f"title: {title}\n{extra}{logsource}\ndetection:\n{body}\nlevel: medium\n"


def one(text: str):
    [c] = convert_rules(load_rule_sources(texts=[text]))
    return c


def run_local(kql: str, rows: list[str]) -> int:
    """Rows of a DeviceProcessEvents table holding ``rows`` as command lines that ``kql``
    matches (a real duckdb-kql run)."""
    con = duckdb_kql.connect()
    con.execute("CREATE TABLE DeviceProcessEvents (ProcessCommandLine VARCHAR, FolderPath VARCHAR)")
    con.executemany("INSERT INTO DeviceProcessEvents VALUES (?, 'C:\\x.exe')", [[r] for r in rows])
    try:
        return len(duckdb_kql.kql(con, kql).fetchall())
    finally:
        con.close()


def test_example_rules_convert_and_pass_local_checks() -> None:
    convs = convert_sigma_rules.fn(rule_paths=[str(EXAMPLE_RULES)])
    assert len(convs) == 5
    assert all(c.status is ConversionStatus.CONVERTED for c in convs), [
        (c.title, c.reason) for c in convs
    ]
    assert {c.validation for c in convs} <= {"schema+engine", "syntax"}
    by_title = {c.title: c for c in convs}
    c2 = by_title["Connection to a Known Command-and-Control Range or Domain"]
    assert c2.validation == "syntax" and "ipv4_is_in_range" in c2.warnings[0]
    assert c2.level == "critical" and "attack.t1071.001" in c2.tags
    assert len({c.rule_id for c in convs}) == 5


def test_mid_value_wildcard_is_case_insensitive_unlike_the_stock_backend() -> None:
    c = one(rule("sel:\n  CommandLine|contains: 'urlcache*split'\ncondition: sel"))
    assert c.status is ConversionStatus.CONVERTED
    assert 'matches regex "(?is)^.*urlcache.*split.*$"' in str(c.kql)
    assert c.stock_kql is not None and "(?i" not in c.stock_kql
    assert c.fixes and "case-insensitive" in c.fixes[0]
    lines = ["certutil -URLCache -Split -f http://x", "certutil -urlcache -f", "nothing"]
    assert run_local(str(c.kql), lines) == 1
    assert run_local(c.stock_kql, lines) == 0  # the fault this corrects


def test_wildcard_values_in_a_list_stay_anchored() -> None:
    c = one(rule("sel:\n  Image|endswith: ['\\cert*util.exe', '\\a.exe']\ncondition: sel"))
    assert c.stock_kql is not None and 'contains "\\\\cert"' in c.stock_kql
    assert "contains" not in str(c.kql) and "unordered contains" in c.fixes[0]
    con = duckdb_kql.connect()
    con.execute("CREATE TABLE DeviceProcessEvents (FolderPath VARCHAR)")
    con.executemany(
        "INSERT INTO DeviceProcessEvents VALUES (?)",
        [["C:\\Windows\\CertUtil.exe"], ["C:\\util.exe\\cert\\x.dll"], ["C:\\a.exe"]],
    )
    assert len(duckdb_kql.kql(con, str(c.kql)).fetchall()) == 2
    assert len(duckdb_kql.kql(con, c.stock_kql).fetchall()) == 3  # the stock one over-matches


def test_all_lists_and_nulls_are_corrected() -> None:
    c = one(rule("sel:\n  CommandLine|all: ['x', 'y']\n  ParentCommandLine: null\ncondition: sel"))
    assert "has_all" not in str(c.kql) and "isempty(InitiatingProcessCommandLine)" in str(c.kql)
    assert c.stock_kql is not None and "has_all" in c.stock_kql
    assert any("has_all" in f for f in c.fixes) and any("isempty" in f for f in c.fixes)


@pytest.mark.parametrize(
    "text,status,reason",
    [
        (rule("kw: ['mimikatz']\ncondition: kw"), "unsupported", "keyword search ('mimikatz')"),
        (
            rule("sel:\n  CurrentDirectory: 'C:\\x'\ncondition: sel"),
            "unsupported",
            "CurrentDirectory",
        ),
        (
            rule(
                "sel:\n  QueryName: evil.example\ncondition: sel",
                logsource="logsource: {category: dns_query, product: windows}",
            ),
            "unsupported",
            "Unable to determine table name",
        ),
        (rule("sel:\n  Image: a\ncondition: sel | count() > 5"), "unsupported", "pipe"),
        (rule("sel:\n  CommandLine|cased: AbC\ncondition: sel"), "unsupported", "Case-sensitive"),
        (
            rule(
                "sel:\n  TargetObject|contains: '\\CurrentVersion\\Run\\'\ncondition: sel",
                logsource="logsource: {category: registry_set, product: windows}",
            ),
            "unsupported",
            "literal '*'",
        ),
        (
            rule("sel:\n  CommandLine|re: '(?=lookahead)x'\ncondition: sel"),
            "unsupported",
            "lookaround",
        ),
        ("title: [unclosed", "invalid", "not a Sigma rule"),
        ("title: only a title\n", "invalid", "log source"),
        ("- a\n- b\n", "invalid", "not a Sigma rule"),
        ("# just a comment\n", "invalid", "no Sigma rule"),
    ],
    ids=[
        "keyword",
        "unmapped-field",
        "no-table",
        "pipe-count",
        "cased",
        "registry-star",
        "lookaround",
        "yaml",
        "incomplete",
        "list",
        "empty",
    ],
)
def test_rules_that_cannot_convert_are_reported_with_their_reason(text, status, reason) -> None:
    c = one(text)
    assert c.status.value == status
    assert c.kql is None and not c.ok
    assert reason in (c.reason or ""), c.reason
    assert len(c.reason or "") <= 400


def test_correlation_rules_are_reported_and_their_base_rule_converts() -> None:
    text = (
        rule(
            "sel:\n  CommandLine|contains: whoami\ncondition: sel",
            title="base",
            extra="name: base_rule\nid: 0d0f4c1a-1111-4aaa-8bbb-000000000001\n",
        )
        + "---\n"
        + textwrap.dedent(
            """\
            title: many whoami
            id: 0d0f4c1a-1111-4aaa-8bbb-000000000002
            correlation:
              type: event_count
              rules: [base_rule]
              group-by: [DeviceName]
              timespan: 1h
              condition: {gte: 10}
            level: high
            """
        )
    )
    convs = convert_rules(load_rule_sources(texts=[text]))
    assert [(c.title, c.status.value) for c in convs] == [
        ("base", "converted"),
        ("many whoami", "unsupported"),
    ]
    assert "correlation" in str(convs[1].reason)


def test_duplicate_ids_and_stable_ids_without_id() -> None:
    a = rule(
        "sel:\n  CommandLine|contains: x\ncondition: sel",
        extra="id: " + "1" * 8 + "-1111-4111-8111-" + "1" * 12 + "\n",
    )
    b = rule("sel:\n  CommandLine|contains: y\ncondition: sel")
    convs = convert_rules(load_rule_sources(texts=[a, b, a, b]))
    assert [c.status.value for c in convs] == ["converted", "converted", "duplicate", "duplicate"]
    assert convs[0].rule_id == "11111111-1111-4111-8111-111111111111"
    assert "rule_texts[0]" in str(convs[2].reason)
    # a rule without an id gets the same derived id every time
    assert one(b).rule_id == convs[1].rule_id


def test_folders_are_read_recursively_and_inputs_checked(tmp_path: Path) -> None:
    (tmp_path / "nested").mkdir()
    (tmp_path / "nested" / "r.yaml").write_text(rule("s:\n  Image|endswith: a\ncondition: s"))
    (tmp_path / "notes.txt").write_text("not a rule")
    sources = load_rule_sources([str(tmp_path), str(tmp_path / "nested" / "r.yaml")])
    assert [Path(s.label).name for s in sources] == ["r.yaml"]  # read once
    bad = [
        ((), ()),
        ([str(tmp_path / "missing")], ()),
        ([str(tmp_path / "notes.txt")], ()),
        ([""], ()),
        ((), [""]),
        ((), ["x" * 300_000]),
        ("examples/sigma", ()),
        ((), [42]),
    ]
    for paths, texts in bad:
        with pytest.raises(ValidationError):
            load_rule_sources(paths, texts)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValidationError, match=r"no \.yml/\.yaml rule"):
        load_rule_sources([str(empty)])
    with pytest.raises(ValidationError, match=f"at most {MAX_RULES}"):
        load_rule_sources(texts=["title: x"] * (MAX_RULES + 1))


def test_local_check_catches_case_types_and_unknown_columns() -> None:
    assert "case-sensitive" in str(check_query_locally("deviceprocessevents | take 1")[0])
    assert "case-sensitive" in str(
        check_query_locally('DeviceProcessEvents | where processcommandline has "x"')[0]
    )
    assert check_query_locally('DeviceProcessEvents | where "mimikatz"')[0]
    assert check_query_locally('DeviceProcessEvents | where NoSuchColumn == "x"')[0]
    assert "not an Advanced Hunting table" in str(check_query_locally("Nope | take 1")[0])
    assert "syntax" in str(check_query_locally("DeviceProcessEvents | where | take")[0])
    problem, how, _ = check_query_locally(hunt_query('DeviceInfo\n| where OSPlatform =~ "x"', 1))
    assert problem is None and how == "schema+engine"


@given(hours=st.one_of(st.integers(-10, 2000), st.booleans(), st.floats(), st.text(max_size=3)))
@settings(max_examples=60, deadline=None)
def test_lookback_is_whole_hours_within_30_days(hours) -> None:
    valid = isinstance(hours, int) and not isinstance(hours, bool) and 1 <= hours <= 720
    if valid:
        assert check_lookback(hours) == hours
        assert f"ago({hours}h)" in hunt_query("DeviceInfo", hours)
    else:
        with pytest.raises(ValidationError):
            check_lookback(hours)


_SAFE = st.text(
    alphabet=st.characters(min_codepoint=32, max_codepoint=126, blacklist_characters="*?\\"),
    min_size=1,
    max_size=12,
).filter(lambda s: s.strip() == s and s.strip())


@given(a=_SAFE, b=_SAFE)
@settings(max_examples=40, deadline=None)
def test_any_value_converts_to_kql_that_matches_it_case_insensitively(a: str, b: str) -> None:
    """Quotes, pipes and KQL syntax in values are escaped; contains and mid-value wildcards
    match regardless of case, on a real duckdb-kql run."""
    text = yaml.safe_dump(
        {
            "title": "prop",
            "logsource": {"category": "process_creation", "product": "windows"},
            "detection": {
                "plain": {"CommandLine|contains": a},
                "wild": {"CommandLine|contains": f"{a}*{b}"},
                "condition": "plain and wild",
            },
        }
    )
    c = one(text)
    assert c.status is ConversionStatus.CONVERTED, c.reason
    hit = f"<{a.swapcase()}>--<{b.upper()}>"
    assert run_local(str(c.kql), [hit, f"{b}"]) == 1


@given(text=st.text(max_size=200))
@settings(max_examples=40, deadline=None)
def test_any_text_gives_an_outcome_and_never_raises(text: str) -> None:
    if not text.strip():
        with pytest.raises(ValidationError):
            load_rule_sources(texts=[text])
        return
    convs = convert_rules(load_rule_sources(texts=[text]))
    assert convs and all(c.status is not None for c in convs)
    assert all(c.ok or c.reason for c in convs)


def test_event_ids_are_deterministic_per_window_and_devices() -> None:
    from datetime import UTC, datetime, timedelta

    t = datetime(2026, 5, 1, 13, 20, tzinfo=UTC)
    w = window_start(t, timedelta(hours=24))
    assert w == datetime(2026, 5, 1, tzinfo=UTC)
    assert window_start(t + timedelta(hours=5), timedelta(hours=24)) == w
    same = sigma_event_id("t1", "r1", ["b", "a"], w)
    assert same == sigma_event_id("t1", "r1", ["a", "b"], w)
    assert same != sigma_event_id("t1", "r1", ["a", "b", "c"], w)
    assert same != sigma_event_id("t2", "r1", ["a", "b"], w)
    assert same != sigma_event_id("t1", "r1", ["a", "b"], w + timedelta(hours=24))
    with pytest.raises(ValidationError):
        window_start(datetime(2026, 5, 1), timedelta(hours=1))


def _alias_bomb(levels: int = 9) -> str:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, levels):
        refs = ",".join([f"*a{i - 1}"] * 9)
        lines.append(f"a{i}: &a{i} [{refs}]")
    return (
        "title: bomb\n"
        + "\n".join(lines)
        + f"\ndetection:\n  sel:\n    CommandLine: *a{levels - 1}\n  condition: sel\n"
    )


def test_yaml_alias_bomb_is_refused_with_its_own_outcome() -> None:
    """A "billion laughs" rule (9 levels of 9 aliases: 387 million strings once expanded) is
    refused from a linear token scan; the good rule next to it still converts."""
    bomb = _alias_bomb()
    good = rule("sel:\n  CommandLine|contains: mimikatz\ncondition: sel", title="good")
    refused, ok = convert_rules(load_rule_sources(texts=[bomb, good]))
    assert refused.status is ConversionStatus.INVALID
    assert "73 YAML aliases" in (refused.reason or "") and "at most 16" in (refused.reason or "")
    assert ok.status is ConversionStatus.CONVERTED and ok.title == "good"


def test_a_few_aliases_are_still_read() -> None:
    text = (
        "title: anchors\n" + PROC + "\nx: &cmd mimikatz\ndetection:\n  sel:\n"
        "    CommandLine|contains: *cmd\n  condition: sel\nlevel: medium\n"
    )
    assert one(text).status is ConversionStatus.CONVERTED


def test_an_oversized_rule_text_is_refused_before_parsing() -> None:
    huge = rule("sel:\n  CommandLine|contains: x\ncondition: sel") + "# " + "x" * 300_000
    with pytest.raises(ValidationError, match="larger than"):
        load_rule_sources(texts=[huge])
