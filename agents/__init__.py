"""The MCP server for AI agents: read tools over the tasks, write tools that only propose.

``prefect-defender mcp serve --credentials SLUG`` serves it over stdio (``--http --port N`` for
streamable HTTP, behind a bearer token). Read tools list and get incidents, alerts, machines,
accounts, file/IP/domain prevalence and machine actions, and run read-only hunting queries; the
``propose_*`` tools start a containment playbook that pauses for an operator's approval in
Prefect (same form, caps, protected assets and kill switch as a run a human starts).
A :class:`~prefect_defender.blocks.DefenderAgentPolicy` block says which tools are allowed, at
what hourly rate, in which tenants; every call emits a ``defender.mcp.tool.called`` event.

Modules: ``server`` (the tools and the server), ``http`` (stdio, streamable HTTP, bearer
token), ``read_tools``, ``hunting``, ``proposals`` and ``launch`` (the tools), ``runtime``
(credentials, policy, tenants), ``policy`` and ``middleware`` (denials, hourly caps, audit),
``audit`` (the event), ``schemas`` (the tools' typed results).
"""
