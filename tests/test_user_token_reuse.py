"""A user block asks Entra for one token per (tenant, audience) per lifetime, however many
blocks, clients, tasks and flows use it, and downloads the OpenID metadata once per process.

Counted at the emulator (real msal over HTTPS, blocks saved and loaded on the Prefect harness),
as the application and partner tests count theirs.
"""

from __future__ import annotations

import asyncio
import uuid
import warnings
from collections import Counter
from typing import Any

from prefect import flow, task

from prefect_defender.blocks import DefenderUserCredentials
from tests.conftest import token_requests

MDE = "https://api.securitycenter.microsoft.com"
GRAPH = "https://graph.microsoft.com"
XDR = "https://api.security.microsoft.com"


def grants(stats: dict[str, Any]) -> Counter[str]:
    """Token requests by grant type (``urn:ietf:params:oauth:grant-type:device_code`` as
    ``device_code``)."""
    out: Counter[str] = Counter()
    for row in stats["token_requests"]:
        out[row["grant_type"].rsplit(":", 1)[-1]] += int(row["count"])
    return out


def discovery(stats: dict[str, Any], kind: str) -> int:
    """Discovery documents of ``kind`` served."""
    return sum(int(r["count"]) for r in stats["discovery_requests"] if r["kind"] == kind)


async def _use(block: DefenderUserCredentials) -> int:
    """What one task does: its own client, a call to each of the three APIs (incidents are read
    on Graph by default, so the XDR audience is asked for explicitly)."""
    async with block.get_client() as client:
        machines = await client.machines.list(limit=5)
        graph = await client.graph_incidents.list(limit=5)
        incidents = await client.xdr_incidents.list(limit=5)
    return len(machines) + len(graph) + len(incidents)


@task
async def inventory_task(block_name: str) -> int:
    """Loads the block itself, as every task of a real flow does."""
    block = await DefenderUserCredentials.load(block_name)
    return await _use(block)


@flow
async def inventory_flow(block_name: str, tasks: int) -> int:
    """Runs ``tasks`` tasks at once, each with its own block object and client."""
    futures = [inventory_task.submit(block_name) for _ in range(tasks)]
    return sum(f.result() for f in futures)


def test_device_code_block_reuses_tokens_across_tasks_and_flows(
    prefect_harness: None, conn: dict, fresh: Any
) -> None:
    """Sign in once, then 3 flows x 4 concurrent tasks, each loading the saved block (whose
    cache msal rotates and the block stores again): one grant per audience in all, one OpenID
    metadata download."""
    name = f"analyst-{uuid.uuid4().hex[:8]}"
    creds = DefenderUserCredentials.from_emulator(conn)
    user = creds.sign_in_with_device_code(lambda _m: None)
    creds.save(name, overwrite=True)
    tid = creds.tenant_id

    total = 0
    for _ in range(3):
        total += asyncio.run(inventory_flow(name, 4))  # type: ignore[arg-type]
    assert total == 3 * 4 * 15

    stats = fresh.admin.stats()
    assert grants(stats) == Counter({"device_code": 1, "refresh_token": 2})
    assert token_requests(stats) == {(tid, MDE): 1, (tid, GRAPH): 1, (tid, XDR): 1}
    assert discovery(stats, "openid-configuration") == 1
    # the stored sign-in is still usable by a new process: the block holds the rotated cache
    stored = DefenderUserCredentials.load(name, _sync=True)  # type: ignore[call-arg]
    assert stored.username == user
    assert stored.token_cache is not None
    assert stored.token_cache.get_secret_value() != ""


async def test_many_block_objects_from_one_cache_share_one_token(conn: dict, fresh: Any) -> None:
    """Ten block objects built from the stored cache (ten tasks in one worker) and a rotated
    copy of it: one refresh grant per audience, no new metadata download per block."""
    signer = DefenderUserCredentials.from_emulator(conn)
    user = await asyncio.to_thread(signer.sign_in_with_device_code, lambda _m: None)
    stored = signer.token_cache.get_secret_value()  # type: ignore[union-attr]
    fresh.admin.reset_stats()

    rotated: list[str] = []

    def block(cache: str) -> DefenderUserCredentials:
        b = DefenderUserCredentials.from_emulator(conn, token_cache=cache, username=user)
        b.persist_refreshed_cache = False
        return b

    first = block(stored)
    async with first.get_client() as client:  # MDE and Graph only: XDR is new to both copies
        assert len(await client.graph_incidents.list(limit=5)) == 5
    rotated.append(first.token_cache.get_secret_value())  # type: ignore[union-attr]
    copies = [stored if i % 2 else rotated[0] for i in range(10)]
    results = await asyncio.gather(*(_use(block(c)) for c in copies))
    assert results == [15] * 10

    stats = fresh.admin.stats()
    tid = signer.tenant_id
    # the device-code sign-in already holds the MDE token; Graph and XDR need one grant each
    assert grants(stats) == Counter({"refresh_token": 2})
    assert token_requests(stats) == {(tid, GRAPH): 1, (tid, XDR): 1}
    assert discovery(stats, "openid-configuration") == 0


async def test_password_block_asks_once_per_audience(conn: dict, fresh: Any) -> None:
    """ROPC: one password grant, then refresh grants for the other audiences; the user realm is
    looked up once however many block objects ask."""
    user = next(u for u in conn["users"] if u["username"].startswith("analyst@"))

    def block(cache: str | None = None) -> DefenderUserCredentials:
        b = DefenderUserCredentials.from_emulator(
            conn, username=user["username"], password=user["password"], token_cache=cache
        )
        b.persist_refreshed_cache = False
        return b

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        first = block()
        async with first.get_client() as client:  # MDE only; the block now holds a cache
            assert len(await client.machines.list(limit=5)) == 5
        saved = first.token_cache.get_secret_value()  # type: ignore[union-attr]
        # later tasks load the block as saved after that first sign-in (with its cache)
        results = await asyncio.gather(*(_use(block(saved if i % 2 else None)) for i in range(8)))
    assert results == [15] * 8
    stats = fresh.admin.stats()
    assert grants(stats) == Counter({"password": 1, "refresh_token": 2})
    assert discovery(stats, "openid-configuration") == 1
    assert discovery(stats, "userrealm") <= 1


async def test_new_sign_in_replaces_a_revoked_one_in_the_same_process(
    conn: dict, fresh: Any
) -> None:
    """After the shared provider met a revoked refresh token, a block holding a new sign-in's
    cache works at once in the same process (the provider takes the new cache in)."""
    from prefect_defender.api.errors import SignInRequiredError

    first = DefenderUserCredentials.from_emulator(conn)
    user = await asyncio.to_thread(first.sign_in_with_device_code, lambda _m: None)
    old = first.token_cache.get_secret_value()  # type: ignore[union-attr]
    fresh.admin.revoke_user(user)
    stale = DefenderUserCredentials.from_emulator(conn, token_cache=old, username=user)
    stale.persist_refreshed_cache = False
    async with stale.get_client() as client:
        try:
            await client.graph_incidents.list(limit=1)
        except SignInRequiredError:
            pass
        else:
            raise AssertionError("a revoked refresh token was accepted")
    await asyncio.sleep(1.1)  # a token's iat has one-second resolution
    again = DefenderUserCredentials.from_emulator(conn)
    await asyncio.to_thread(again.sign_in_with_device_code, lambda _m: None)
    new = again.token_cache.get_secret_value()  # type: ignore[union-attr]
    later = DefenderUserCredentials.from_emulator(conn, token_cache=new, username=user)
    later.persist_refreshed_cache = False
    async with later.get_client() as client:
        assert len(await client.graph_incidents.list(limit=1)) == 1
