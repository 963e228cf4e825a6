"""The emulator, the saved blocks and the names every example may use without defining them."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import emulator_server
from tests.examples.collect import ROOT
from tests.examples.runner import BLOCK_NAME
from tests.examples.seeded import seeded_values


@pytest.fixture(scope="module")
def example_emulator(
    tmp_path_factory: pytest.TempPathFactory, emulator_keys: Path
) -> Iterator[Any]:
    """An emulator of its own (the examples write), with machine actions final when first
    read (an example that waits for one reads it done, not after its 10 s poll interval)."""
    config = {
        "time_scale": 300.0,
        "action_outcomes": {},
        "action_pending_seconds": 0,
        "action_running_seconds": 0,
    }
    with emulator_server(tmp_path_factory, emulator_keys, config, name="examples") as emu:
        yield emu


@pytest.fixture(scope="module")
def shared(
    prefect_harness: None,
    example_emulator: Any,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[str, Any]]:
    """Saved blocks (under the names the examples load) and the shared example names.

    The examples run in a folder where ``.emulator`` and ``.demo/emulator`` are this emulator's
    data directory, so ``from_emulator(".emulator")`` finds it.
    """
    from prefect_defender.blocks import (
        DefenderApplicationCredentials,
        DefenderManagedIdentityCredentials,
        DefenderPartnerCredentials,
        DefenderUserCredentials,
    )

    conn = dict(example_emulator.connection)
    mi = conn["managed_identity"]
    saved_env = {k: os.environ.get(k) for k in ("IDENTITY_ENDPOINT", "IDENTITY_HEADER")}
    os.environ["IDENTITY_ENDPOINT"] = mi["app_service_endpoint"]
    os.environ["IDENTITY_HEADER"] = mi["identity_header"]
    scaled = {"rate_limit_time_scale": 300.0}
    user = conn["users"][0]
    app = DefenderApplicationCredentials.from_emulator(conn, **scaled)
    partner = DefenderPartnerCredentials.from_emulator(
        conn,
        tenants=["contoso", "fabrikam"],
        **scaled,  # the two that consented
    )
    analyst = DefenderUserCredentials.from_emulator(
        conn, username=user["username"], password=user["password"], **scaled
    )
    identity = DefenderManagedIdentityCredentials.from_emulator(conn, **scaled)
    for block, names in (
        (app, (BLOCK_NAME, "soc")),
        (partner, (BLOCK_NAME, "mssp")),
        (analyst, (BLOCK_NAME, "soc-analyst")),
        (identity, (BLOCK_NAME, "azure-worker")),
    ):
        for name in names:
            block.save(name, overwrite=True)
    tenants = {t["name"]: t["tenant_id"] for t in conn["tenants"]}
    values = asyncio.run(seeded_values(example_emulator, app, partner, tenants))

    folder = tmp_path_factory.mktemp("examples-cwd")
    (folder / ".emulator").symlink_to(example_emulator.data_dir)
    (folder / ".demo").mkdir()
    (folder / ".demo" / "emulator").symlink_to(example_emulator.data_dir)
    (folder / "examples").symlink_to(ROOT / "examples")  # the repository's Sigma rules
    before = Path.cwd()
    os.chdir(folder)
    try:
        yield {
            "creds": app,
            "partner": partner,
            "credentials": "defender-application-credentials/soc",
            **values,
        }
    finally:
        os.chdir(before)
        for k, v in saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
