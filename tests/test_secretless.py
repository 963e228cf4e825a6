"""Secretless credentials end to end: workload identity federation and managed identity.

Real msal over HTTPS against the emulator: federated assertions are tokens of the emulator's own
OIDC issuer written to a file (what AKS projects), managed-identity tokens come from the
emulator's App Service, IMDS and Azure Arc endpoints selected by the environment variables msal
reads. Each credential kind lists incidents in a flow on the Prefect test harness.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prefect import flow
from pydantic import ValidationError as PydanticValidationError

from prefect_defender.api.auth import FederatedTokenFile, identity_source, is_local_identity_host
from prefect_defender.api.errors import AuthenticationError, TransportError, UnsafeRequestError
from prefect_defender.blocks import (
    DefenderApplicationCredentials,
    DefenderManagedIdentityCredentials,
    DefenderPartnerCredentials,
)
from prefect_defender.tasks.incidents import list_incidents
from tests.conftest import token_requests

SOC_SUBJECT = "system:serviceaccount:soc:prefect-worker"
MSSP_SUBJECT = "system:serviceaccount:mssp:prefect-worker"
MI_VARS = (
    "IDENTITY_ENDPOINT",
    "IDENTITY_HEADER",
    "IDENTITY_SERVER_THUMBPRINT",
    "IMDS_ENDPOINT",
    "MSI_ENDPOINT",
    "MSI_SECRET",
    "AZURE_POD_IDENTITY_AUTHORITY_HOST",
    "AZURE_FEDERATED_TOKEN_FILE",
)


@flow(name="secretless-incidents")
async def incidents_flow(credentials: Any, tenant_id: str | None = None) -> list[int]:
    """The playbook-shaped check: list incidents with the given credentials."""
    incidents = await list_incidents(credentials, limit=5, tenant_id=tenant_id)
    return [i.incident_id for i in incidents]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in MI_VARS:
        monkeypatch.delenv(var, raising=False)


def mint(conn: dict, **claims: Any) -> str:
    """A token of the emulator's issuer ``aks`` (the kubelet's job on AKS)."""
    ctx = ssl.create_default_context(cafile=conn["ca_bundle"])
    with httpx.Client(verify=ctx, trust_env=False) as http:
        resp = http.post(f"{conn['base_url']}/_emulator/oidc/aks/token", json=claims)
        resp.raise_for_status()
        return str(resp.json()["token"])


def write(path: Path, token: str) -> str:
    path.write_text(token + "\n")
    return str(path)


# -- workload identity federation -------------------------------------------------------------
def test_issuer_publishes_discovery_and_keys(conn: dict) -> None:
    ctx = ssl.create_default_context(cafile=conn["ca_bundle"])
    with httpx.Client(verify=ctx, trust_env=False) as http:
        doc = http.get(f"{conn['oidc_issuer']}/.well-known/openid-configuration").json()
        keys = http.get(doc["jwks_uri"]).json()["keys"]
    assert doc["issuer"] == conn["oidc_issuer"]
    assert keys and keys[0]["kty"] == "RSA" and keys[0]["kid"]


async def test_federated_application_lists_incidents_in_a_flow(
    prefect_harness: None, conn: dict, fresh: Any, tmp_path: Path
) -> None:
    path = write(tmp_path / "token", mint(conn, subject=SOC_SUBJECT))
    creds = DefenderApplicationCredentials.from_emulator(conn, federated_token_file=path)
    assert creds.client_secret is None and creds.certificate_private_key is None
    ids = await incidents_flow(creds)
    assert ids and all(isinstance(i, int) for i in ids)
    stats = fresh.admin.stats()
    grants = {r["grant_type"] for r in stats["token_requests"]}
    assert grants == {"client_credentials"}
    assert token_requests(stats)[(creds.tenant_id, "https://graph.microsoft.com")] == 1


async def test_aks_environment_variable_names_the_token_file(
    conn: dict, fresh: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AZURE_FEDERATED_TOKEN_FILE", write(tmp_path / "t", mint(conn)))
    creds = DefenderApplicationCredentials.from_emulator(conn, workload_identity=True)
    async with creds.get_client() as client:
        assert len(await client.machines.list(limit=3)) == 3


async def test_missing_token_file_is_a_clear_error(conn: dict, fresh: Any) -> None:
    creds = DefenderApplicationCredentials.from_emulator(conn, workload_identity=True)
    async with creds.get_client() as client:
        with pytest.raises(AuthenticationError, match="AZURE_FEDERATED_TOKEN_FILE"):
            await client.machines.list(limit=1)
    assert fresh.admin.stats()["token_requests"] == []  # nothing was sent


@pytest.mark.parametrize(
    ("claims", "code", "what"),
    [
        ({"subject": "system:serviceaccount:default:other"}, "AADSTS700213", "subject"),
        ({"subject": SOC_SUBJECT.upper()}, "AADSTS700213", "subject"),  # case-sensitive
        ({"audience": "api://AzureADMyOrg"}, "AADSTS700212", "audience"),
        ({"issuer": "https://oidc.evil.example/aks"}, "AADSTS700211", "issuer"),
        ({"lifetime_seconds": -600}, "AADSTS700024", "valid time range"),
    ],
    ids=["subject", "subject-case", "audience", "issuer", "expired"],
)
async def test_mismatched_assertion_is_refused_with_entras_code(
    conn: dict, fresh: Any, tmp_path: Path, claims: dict, code: str, what: str
) -> None:
    token = mint(conn, **{"subject": SOC_SUBJECT, **claims})
    path = write(tmp_path / "token", token)
    creds = DefenderApplicationCredentials.from_emulator(conn, federated_token_file=path)
    async with creds.get_client() as client:
        with pytest.raises(AuthenticationError) as info:
            await client.incidents.list(limit=1)
    text = str(info.value)
    assert info.value.code == "invalid_client"
    assert code in text and what in text
    assert token not in text and token.split(".")[2] not in text


async def test_rotated_token_file_is_read_again(conn: dict, fresh: Any, tmp_path: Path) -> None:
    """The kubelet rewrites the file: the next token request uses the new content."""
    token_path = tmp_path / "token"
    write(token_path, mint(conn))
    reader = FederatedTokenFile(str(token_path))
    assert reader() == reader()  # unchanged file: read once
    assert reader.reads == 1
    creds = DefenderApplicationCredentials.from_emulator(conn, federated_token_file=str(token_path))
    client = creds.get_client()
    provider = client.transport.provider
    scope = creds.endpoints().mde_scope
    first = await provider.get_token(scope)
    # rotate to a token the app does not trust: if the file were not re-read, this would pass
    write(token_path, mint(conn, subject="system:serviceaccount:soc:rotated-away"))
    provider.invalidate(scope, first.token)
    with pytest.raises(AuthenticationError, match="AADSTS700213"):
        await provider.get_token(scope)
    # rotate back to a valid token: accepted again
    write(token_path, mint(conn))
    second = await provider.get_token(scope)
    assert second.token != first.token
    await client.aclose()


async def test_federated_partner_reaches_customer_tenants_in_a_flow(
    prefect_harness: None, conn: dict, fresh: Any, tmp_path: Path, tenants: dict[str, str]
) -> None:
    path = write(tmp_path / "token", mint(conn, subject=MSSP_SUBJECT))
    partner = DefenderPartnerCredentials.from_emulator(
        conn, tenants=["contoso", "fabrikam"], federated_token_file=path
    )
    assert partner.client_secret is None
    for name in ("contoso", "fabrikam"):
        assert await incidents_flow(partner, tenant_id=tenants[name])
    per_tenant = token_requests(fresh.admin.stats())
    # incidents are read on Graph (the default surface): one Graph token per customer tenant
    assert per_tenant[(tenants["contoso"], "https://graph.microsoft.com")] == 1
    assert per_tenant[(tenants["fabrikam"], "https://graph.microsoft.com")] == 1


def test_block_validation_of_federation_fields(conn: dict) -> None:
    spec = conn["apps"]["soc"]
    base = {"tenant_id": spec["tenant_id"], "client_id": spec["client_id"]}
    with pytest.raises(PydanticValidationError, match="exactly one credential"):
        DefenderApplicationCredentials(**base, client_secret="x", workload_identity=True)
    with pytest.raises(PydanticValidationError, match="absolute"):
        DefenderApplicationCredentials(**base, federated_token_file="relative/token")
    with pytest.raises(PydanticValidationError, match="exactly one credential"):
        DefenderPartnerCredentials(
            client_id=spec["client_id"], client_secret="x", federated_token_file="/var/run/t"
        )
    ok = DefenderApplicationCredentials(**base, federated_token_file="/var/run/secrets/token")
    assert ok.workload_identity is False and ok.federated_token_file == "/var/run/secrets/token"


# -- managed identity -------------------------------------------------------------------------
@pytest.fixture
def app_service(conn: dict, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict]:
    """The environment App Service / Container Apps give a process with a managed identity."""
    mi = conn["managed_identity"]
    monkeypatch.setenv("IDENTITY_ENDPOINT", mi["app_service_endpoint"])
    monkeypatch.setenv("IDENTITY_HEADER", mi["identity_header"])
    yield mi


async def test_system_assigned_identity_lists_incidents_in_a_flow(
    prefect_harness: None, conn: dict, fresh: Any, app_service: dict
) -> None:
    assert identity_source() == "app_service"
    creds = DefenderManagedIdentityCredentials.from_emulator(conn)
    assert not creds.user_assigned
    assert await incidents_flow(creds)
    rows = fresh.admin.stats()["token_requests"]
    assert {r["grant_type"] for r in rows} == {"managed_identity"}
    assert {r["client_id"] for r in rows} == {app_service["identities"]["system"]["client_id"]}


@pytest.mark.parametrize("by", ["client_id", "object_id", "resource_id"])
async def test_user_assigned_identity_by_each_kind_of_id(
    conn: dict, fresh: Any, app_service: dict, by: str
) -> None:
    creds = DefenderManagedIdentityCredentials.from_emulator(conn, "soc-worker", by=by)
    async with creds.get_client() as client:
        assert len(await client.machines.list(limit=2)) == 2
        tok = await client.transport.provider.get_token(creds.endpoints().mde_scope)
    expected = app_service["identities"]["soc-worker"]
    assert tok.claims["appid"] == expected["client_id"]
    assert tok.claims["xms_mirid"] == expected["resource_id"]


async def test_imds_endpoint_on_a_vm(
    conn: dict, fresh: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without App Service variables msal asks IMDS (its host overridable, as msal allows)."""
    monkeypatch.setenv("AZURE_POD_IDENTITY_AUTHORITY_HOST", conn["managed_identity"]["imds_host"])
    assert identity_source() == "imds"
    creds = DefenderManagedIdentityCredentials.from_emulator(conn, "soc-worker")
    async with creds.get_client() as client:
        assert len(await client.incidents.list(limit=2)) == 2


async def test_azure_arc_challenge_and_key_file(
    conn: dict, fresh: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Arc answers 401 naming a key file; msal reads it from the agent's token directory (a
    platform path msal hard-codes, pointed at a temporary directory here) and asks again."""
    import msal.managed_identity as msal_mi

    fresh.admin.patch_config(arc_tokens_dir=str(tmp_path))
    monkeypatch.setitem(msal_mi._supported_arc_platforms_and_their_prefixes, "linux", str(tmp_path))
    monkeypatch.setenv("IDENTITY_ENDPOINT", f"{conn['base_url']}/metadata/identity/oauth2/token")
    monkeypatch.setenv("IMDS_ENDPOINT", conn["base_url"])
    assert identity_source() == "azure_arc"
    creds = DefenderManagedIdentityCredentials.from_emulator(conn)
    async with creds.get_client() as client:
        assert len(await client.machines.list(limit=1)) == 1
    assert (tmp_path / "arc.key").exists()


async def test_wrong_identity_header_is_an_authentication_error(
    conn: dict, fresh: Any, app_service: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IDENTITY_HEADER", "not-the-header")
    creds = DefenderManagedIdentityCredentials.from_emulator(conn)
    async with creds.get_client() as client:
        with pytest.raises(AuthenticationError) as info:
            await client.machines.list(limit=1)
    assert "not-the-header" not in str(info.value)


async def test_identity_of_another_tenant_is_refused(
    conn: dict, fresh: Any, app_service: dict, tenants: dict[str, str]
) -> None:
    creds = DefenderManagedIdentityCredentials.from_emulator(conn, tenant_id=tenants["fabrikam"])
    async with creds.get_client() as client:
        with pytest.raises(AuthenticationError, match="belongs to tenant"):
            await client.machines.list(limit=1)


@pytest.mark.parametrize(
    "endpoint",
    [
        "http://10.0.0.5:8081/msi/token",
        "https://identity.evil.example/msi/token",
        "http://169.254.169.253/metadata/identity/oauth2/token",
    ],
)
async def test_identity_endpoint_must_be_local(
    conn: dict, fresh: Any, monkeypatch: pytest.MonkeyPatch, endpoint: str
) -> None:
    """The plain-http exception holds for this machine only: any other host is refused before
    a connection is made (the identity header never leaves the machine)."""
    monkeypatch.setenv("IDENTITY_ENDPOINT", endpoint)
    monkeypatch.setenv("IDENTITY_HEADER", "secret-identity-header")
    creds = DefenderManagedIdentityCredentials.from_emulator(conn)
    async with creds.get_client() as client:
        with pytest.raises(UnsafeRequestError) as info:
            await client.machines.list(limit=1)
    assert "secret-identity-header" not in str(info.value)


async def test_local_http_identity_endpoint_is_allowed(
    conn: dict, fresh: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """http://127.0.0.1 is what App Service really uses: it is attempted (nothing listens on
    port 9 here, so the attempt ends in a TransportError, not a refusal)."""
    monkeypatch.setenv("IDENTITY_ENDPOINT", "http://127.0.0.1:9/msi/token")
    monkeypatch.setenv("IDENTITY_HEADER", "h")
    creds = DefenderManagedIdentityCredentials.from_emulator(conn)
    async with creds.get_client() as client:
        with pytest.raises(TransportError):
            await client.machines.list(limit=1)


def test_local_identity_hosts() -> None:
    for host in ("localhost", "127.0.0.1", "127.3.4.5", "::1", "[::1]", "169.254.169.254"):
        assert is_local_identity_host(host), host
    for host in ("", None, "10.0.0.1", "169.254.169.253", "localhost.evil.example", "0.0.0.0"):
        assert not is_local_identity_host(host), host


def test_managed_identity_block_validation(conn: dict) -> None:
    tid = conn["apps"]["soc"]["tenant_id"]
    with pytest.raises(PydanticValidationError, match="at most one"):
        DefenderManagedIdentityCredentials(
            tenant_id=tid,
            user_assigned_client_id=tid,
            user_assigned_object_id=tid,
        )
    for bad in ("not-a-guid", "/subscriptions/x?y=1/providers/z", "rg/identity"):
        field = "user_assigned_client_id" if bad == "not-a-guid" else "user_assigned_resource_id"
        with pytest.raises(PydanticValidationError):
            DefenderManagedIdentityCredentials(tenant_id=tid, **{field: bad})
    with pytest.raises(ValueError, match="own tenant"):
        DefenderManagedIdentityCredentials(tenant_id=tid).get_client(
            "00000000-0000-0000-0000-000000000001"
        )


# -- whoami: which credential kind a saved block uses -----------------------------------------
def test_whoami_names_each_credential_kind(
    prefect_harness: None,
    conn: dict,
    tenants: dict,
    fresh: Any,
    app_service: dict,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The CLI loads each saved block from the Prefect server, gets one token per surface from
    the emulator and prints the credential kind; no secret or token is in its output."""
    import json

    from typer.testing import CliRunner

    from prefect_defender.cli.main import app

    path = write(tmp_path / "token", mint(conn, subject=SOC_SUBJECT))
    blocks = {
        "wi-federated": (
            DefenderApplicationCredentials.from_emulator(conn, federated_token_file=path),
            "application: workload identity federation",
        ),
        "wi-secret": (
            DefenderApplicationCredentials.from_emulator(conn),
            "application: client secret",
        ),
        "wi-system-mi": (
            DefenderManagedIdentityCredentials.from_emulator(conn),
            "managed identity: system-assigned",
        ),
        "wi-user-mi": (
            DefenderManagedIdentityCredentials.from_emulator(conn, "soc-worker"),
            "managed identity: user-assigned",
        ),
    }
    partner = DefenderPartnerCredentials.from_emulator(conn)
    customer = tenants["fabrikam"]
    blocks["wi-partner"] = (partner, "partner (multi-tenant application): client secret")
    runner = CliRunner()
    for name, (creds, kind) in blocks.items():
        creds.save(name, overwrite=True)
        slug = type(creds).get_block_type_slug()
        extra = ["--tenant-id", customer] if name == "wi-partner" else []
        result = runner.invoke(app, ["whoami", f"{slug}/{name}", *extra])
        assert result.exit_code == 0, result.output
        report = json.loads(result.output)
        tenant = customer if name == "wi-partner" else creds.tenant_id
        assert report["credential"] == kind, name
        assert report["tenant_id"] == tenant
        assert set(report["tokens"]) == {"xdr", "mde", "graph"}
        assert all(t["tid"] == tenant for t in report["tokens"].values())
        assert any(t["permissions"] for t in report["tokens"].values()), name
        secret = getattr(creds, "client_secret", None)
        if secret is not None:
            assert secret.get_secret_value() not in result.output
        assert "eyJ" not in result.output  # no JWT
    # a tenant without consent is a one-line error naming the consent link, not a traceback
    from prefect_defender.cli.errors import run

    argv = ["whoami", "defender-partner-credentials/wi-partner", "--tenant-id"]
    assert run(app, [*argv, tenants["northwind"]]) == 1
    out, err = capsys.readouterr()
    assert len(err.strip().splitlines()) == 1, err
    assert "has no consent" in err and "adminconsent" in err
    assert "Traceback" not in out + err
