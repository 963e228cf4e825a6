"""Tasks for investigation packages: the download link, one download, many into a folder or block.

A package is collected by ``collect_investigation_package`` (``tasks.machine_actions``); once
that action has succeeded, these tasks fetch it. The short-lived links are fetched without the
bearer token.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any

from prefect_defender.api.errors import ValidationError
from prefect_defender.api.input_types import (
    ActionId,
    LocalPath,
    PackageFiles,
    TenantId,
    WritableStorage,
)
from prefect_defender.api.validation import check_guid, check_local_path
from prefect_defender.tasks.base import DefenderCredentialsLike, defender_client, defender_task
from prefect_defender.tasks.outcomes import ItemOutcome, OutcomeStatus, run_bulk

__all__ = [
    "download_investigation_package",
    "get_investigation_package_uri",
    "store_investigation_packages",
]


@defender_task(endpoints=("mde.actions.package_uri",))
async def get_investigation_package_uri(
    credentials: DefenderCredentialsLike, action_id: ActionId, tenant_id: TenantId | None = None
) -> str:
    """The short-lived download link of a completed investigation package (404 before).

    Example:
        ```python
        url = await get_investigation_package_uri(creds, action_id)
        ```
    """
    async with defender_client(credentials, tenant_id) as client:
        return await client.machine_actions.package_uri(action_id)


@defender_task(endpoints=("mde.actions.package_uri",))
async def download_investigation_package(
    credentials: DefenderCredentialsLike,
    action_id: ActionId,
    dest: LocalPath,
    tenant_id: TenantId | None = None,
) -> dict[str, Any]:
    """Download a completed investigation package to ``dest`` (the link is fetched without the
    bearer token). Returns the path and size.

    Example:
        ```python
        info = await download_investigation_package(creds, action_id, "/evidence/ws-1.zip")
        ```
    """
    async with defender_client(credentials, tenant_id) as client:
        size = await client.machine_actions.download_package(action_id, dest)
    return {"path": str(Path(dest).resolve()), "bytes": size}


_PACKAGE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$")


@defender_task(endpoints=("mde.actions.package_uri",))
async def store_investigation_packages(
    credentials: DefenderCredentialsLike,
    packages: PackageFiles,
    destination: LocalPath,
    storage: WritableStorage | None = None,
    tenant_id: TenantId | None = None,
) -> list[ItemOutcome]:
    """Download completed packages (file name -> action id) into a folder or a storage block.

    ``destination`` is a local folder, or a path inside ``storage`` (a Prefect filesystem block
    such as ``LocalFileSystem`` or ``S3Bucket``: anything with ``write_path``). One outcome per
    package, by file name: ``succeeded`` with ``result`` = ``{"path", "bytes"}``, or ``failed``
    with Defender's code (a link that expired, a package not ready). The links are fetched
    without the bearer token.

    Example:
        ```python
        outcomes = await store_investigation_packages(
            creds, {"ws-1-3f2a.zip": action_id}, "/srv/evidence/ir-7")
        ```
    """
    check_local_path(destination, "destination")
    if storage is not None and not callable(getattr(storage, "write_path", None)):
        raise ValidationError(
            "storage: expected a Prefect filesystem block (with write_path)", field="storage"
        )
    if not isinstance(packages, dict):
        raise ValidationError(
            "packages: expected a mapping of file name to action id", field="packages"
        )
    for name, action_id in packages.items():
        if not isinstance(name, str) or not _PACKAGE_NAME.match(name):
            raise ValidationError(
                f"packages: {str(name)[:60]!r} is not a plain file name", field="packages"
            )
        check_guid(action_id, f"packages[{name}]")
    async with defender_client(credentials, tenant_id) as client:

        async def one(name: str) -> ItemOutcome:
            action_id = packages[name]
            if storage is None:
                dest = Path(destination) / name
                size = await client.machine_actions.download_package(action_id, dest)
                where = str(dest.resolve())
            else:
                with tempfile.TemporaryDirectory() as tmp:
                    local = Path(tmp) / name
                    size = await client.machine_actions.download_package(action_id, local)
                    where = f"{destination.rstrip('/')}/{name}"
                    await storage.write_path(where, local.read_bytes())
            result = {"path": where, "bytes": size}
            return ItemOutcome(item=name, status=OutcomeStatus.SUCCEEDED, result=result)

        return await run_bulk(list(packages), one, concurrency=2)
