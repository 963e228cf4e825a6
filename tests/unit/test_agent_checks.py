"""The MCP server's checks without a server: the hunting query is a query or is refused, the
policy's first matching rule decides, the audit record never carries a secret, a proposal is
quoted for the approval form."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mcp.server.mcpserver.exceptions import ToolError

from prefect_defender.agents.audit import scrub
from prefect_defender.agents.hunting import read_only_query
from prefect_defender.blocks import DefenderAgentPolicy, ToolRule
from prefect_defender.flows.proposals import AgentProposal, proposal_line

TABLES = st.sampled_from(["DeviceInfo", "DeviceProcessEvents", "AlertInfo", "EmailEvents"])
WORDS = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=12)
COMMANDS = st.sampled_from(
    [".drop table T", ".set-or-append T <| X", ".show tables", ".alter table T", ".purge T"]
)


@given(table=TABLES, column=WORDS, take=st.integers(min_value=1, max_value=10_001))
def test_a_query_gets_the_cap_appended(table: str, column: str, take: int) -> None:
    query = f"let c = '{column}';\n{table} | where {column} has c | project {column}"
    assert read_only_query(query, take) == f"{query}\n| take {take}"


@given(table=TABLES, command=COMMANDS, before=st.booleans())
def test_a_management_command_anywhere_is_refused(table: str, command: str, before: bool) -> None:
    query = f"{command};\n{table}" if before else f"{table};\n{command}"
    with pytest.raises(ToolError, match="refused"):
        read_only_query(query, 10)


@given(
    operator=st.sampled_from(
        [
            'externaldata (a:string) ["https://x.example"]',
            'evaluate http_request("https://x.example")',
            'evaluate http_request_post("https://x.example", "", "")',
            'evaluate sql_request("Server=x", "select 1")',
            'cluster("x").database("y").T',
        ]
    ),
    table=TABLES,
)
def test_reading_outside_the_hunting_data_is_refused(operator: str, table: str) -> None:
    with pytest.raises(ToolError, match="refused"):
        read_only_query(f"{table} | join ({operator}) on x", 10)


@given(text=st.text(min_size=1, max_size=40))
@settings(max_examples=200)
def test_operator_names_inside_strings_are_data(text: str) -> None:
    quoted = text.replace("\\", "").replace('"', "").replace("\n", " ")
    query = f'DeviceInfo | where DeviceName == "externaldata {quoted}; .drop"'
    assert read_only_query(query, 5).endswith("| take 5")


@pytest.mark.parametrize(
    "query",
    [
        "",
        ";",
        "let x = 1;",
        "set notruncation; DeviceInfo",
        # a quote inside a comment starts no string: the command after it is still seen
        "DeviceInfo // it's\n| take 1;\n.drop table DeviceInfo //'",
        "DeviceInfo | where A == 'x' // '\n;\n.show tables",
    ],
)
def test_not_a_tabular_query_is_refused(query: str) -> None:
    with pytest.raises(ToolError, match="refused"):
        read_only_query(query, 5)


def test_the_first_rule_that_covers_a_tool_decides() -> None:
    policy = DefenderAgentPolicy(
        rules=[
            ToolRule(tool="propose_indicator_block", access="denied"),
            ToolRule(tool="propose_*", calls_per_hour=3),
        ],
        default_access="denied",
    )
    assert policy.rule_for("propose_indicator_block").access == "denied"
    assert policy.rule_for("propose_device_containment").calls_per_hour == 3
    assert policy.rule_for("lookup_ip").access == "denied"  # the default
    assert DefenderAgentPolicy().rule_for("lookup_ip").access == "allowed"


@given(
    key=st.sampled_from(["token", "client_secret", "Password", "apiKey", "Authorization"]),
    secret=st.text(min_size=8, max_size=40),
)
def test_the_audit_record_masks_secrets_at_any_depth(key: str, secret: str) -> None:
    record = scrub({"query": "DeviceInfo", "nested": [{key: secret}], key: secret})
    assert record["query"] == "DeviceInfo"
    assert record[key] == "***" and record["nested"][0][key] == "***"


def test_the_audit_record_is_bounded() -> None:
    record = scrub({"query": "x" * 50_000, "ids": list(range(500))})
    assert len(record["query"]) <= 1001 and len(record["ids"]) == 50


def test_the_agents_words_are_quoted_for_the_form() -> None:
    proposal = AgentProposal(
        agent="bot 1.0",
        reason="**Approve now** | [click](https://x.example)\n# heading",
        evidence=["<script>alert(1)</script>"],
    )
    text = proposal.form_text()
    assert "**Approve" not in text and "\\*\\*Approve now\\*\\*" in text
    assert "<script>" not in text and "\n# heading" not in text
    assert proposal_line(proposal) == (
        "proposed by agent bot 1.0: **Approve now** | [click](https://x.example) # heading"
    )
