"""Pydantic models of Defender's resources (unknown fields kept, enums as open strings), one module
per area: ``common`` (:class:`~prefect_defender.api.models.common.DefenderModel`), ``incidents``,
``machines``, ``alerts`` ... and the ``graph_security`` package."""
