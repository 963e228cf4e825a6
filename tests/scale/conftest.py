"""Fixtures of the scale-out test: a throwaway PostgreSQL cluster and a roomier emulator."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.scale.postgres import PostgresCluster, find_bindir

#: machine actions finish in a fraction of a second; rate limits scaled alike
TIME_SCALE = 300.0


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresCluster]:
    """A PostgreSQL server on 127.0.0.1 with an empty ``prefect`` database."""
    bindir = find_bindir()
    if bindir is None:
        pytest.skip("PostgreSQL is not installed: run scripts/system-deps.sh")
    with PostgresCluster(bindir=bindir) as pg:
        yield pg


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory, emulator_keys: Path) -> Iterator[Any]:
    """The emulator with 80 machines per tenant (so 50+ plain workstations) on a fast clock."""
    from prefect_defender.emulator.server import EmulatorServer

    data_dir = tmp_path_factory.mktemp("emulator-scale")
    for f in emulator_keys.iterdir():
        shutil.copy2(f, data_dir / f.name)
    config = {"machines_per_tenant": 80, "time_scale": TIME_SCALE, "action_outcomes": {}}
    config["extra_customer_tenants"] = 20  # the MSSP sweep in groups (made on first use)
    with EmulatorServer(data_dir=str(data_dir), port=0, config=config) as emu:
        yield emu
