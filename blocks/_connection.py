"""Connection settings shared by the three credential blocks: cloud, host overrides, CA, limits.

Everything is validated when the block is created (https only, known cloud, sane limits), so a
typo fails in the Prefect UI form, not at 3 a.m. inside a playbook.
"""

from __future__ import annotations

import json
from abc import ABC
from pathlib import Path
from typing import Any, ClassVar, Literal, Self

from prefect.blocks.abstract import CredentialsBlock
from pydantic import Field, HttpUrl, SecretStr, field_validator, model_validator

from prefect_defender.api.auth import (
    AKS_TOKEN_FILE_VARIABLE,
    CertificateCredential,
    FederatedTokenFile,
)
from prefect_defender.api.client import ClientSettings
from prefect_defender.api.clouds import CloudEndpoints, cloud_endpoints
from prefect_defender.api.proxy import ProxyConfig, check_proxy_url
from prefect_defender.api.ratelimit import scaled
from prefect_defender.api.validation import check_guid
from prefect_defender.blocks._ui_text import ui_text

__all__ = [
    "DOCS_URL",
    "LOGO_URL",
    "DefenderConnectionMixin",
    "check_federation",
    "emulator_connection",
    "federated_assertion",
    "load_emulator_connection",
    "tenant_name_field",
]

LOGO_URL = HttpUrl("https://learn.microsoft.com/en-us/media/logos/logo_ms_defender.svg")
DOCS_URL = HttpUrl("https://github.com/prefect-defender/prefect-defender#readme")

CloudName = Literal["commercial", "gcc", "gcc-high", "dod"]


class DefenderConnectionMixin(CredentialsBlock, ABC):
    """Fields and helpers common to the Defender credential blocks (not registered itself)."""

    _block_schema_capabilities = ["get-client"]

    cloud: CloudName = Field(
        default="commercial",
        title="Cloud",
        description="Microsoft cloud: commercial, gcc, gcc-high or dod.",
    )
    authority_host: str | None = Field(
        default=None,
        title="Authority host",
        description="Override of the Entra ID login host, e.g. https://login.microsoftonline.com.",
    )
    xdr_base_url: str | None = Field(
        default=None,
        title="Defender XDR base URL",
        description="Override of the Defender XDR API base URL.",
    )
    mde_base_url: str | None = Field(
        default=None,
        title="Defender for Endpoint base URL",
        description="Override of the Defender for Endpoint API base URL (e.g. a regional host "
        "such as https://eu.api.security.microsoft.com).",
    )
    graph_base_url: str | None = Field(
        default=None,
        title="Graph base URL",
        description="Override of the Microsoft Graph base URL, including the version segment.",
    )
    xdr_scope: str | None = Field(default=None, description="Override of the XDR token scope.")
    mde_scope: str | None = Field(
        default=None, description="Override of the Defender for Endpoint token scope."
    )
    graph_scope: str | None = Field(default=None, description="Override of the Graph token scope.")
    ca_bundle: str | None = Field(
        default=None,
        title="CA bundle",
        description="Extra trusted CA certificates (a PEM file path or PEM text) for a TLS "
        "proxy or the emulator. Verification itself cannot be turned off.",
    )
    proxy_url: str | None = Field(
        default=None,
        title="Proxy URL",
        description="Outbound proxy for token requests and API calls, e.g. "
        "http://proxy.corp.example:3128 (http:// or https://, no credentials in the URL). "
        "HTTPS_PROXY and the other environment variables are never used. For a TLS-inspecting "
        "proxy, put its CA certificate in the CA bundle field.",
    )
    proxy_username: str | None = Field(
        default=None, title="Proxy user name", description="User name for the proxy (Basic)."
    )
    proxy_password: SecretStr | None = Field(
        default=None, title="Proxy password", description="Password for the proxy (Basic)."
    )
    max_concurrency: int = Field(
        default=10, ge=1, le=100, description="Concurrent requests per client."
    )
    rate_limits: dict[str, list[tuple[int, float]]] | None = Field(
        default=None,
        description="Per-family overrides of the documented limits, as [calls, seconds] pairs, "
        'e.g. {"mde": [[100, 60], [1500, 3600]]}.',
    )
    incident_surface: Literal["graph", "xdr"] = Field(
        default="graph",
        title="Incident API",
        description="Where playbooks read, tag, classify and comment incidents: graph "
        "(Microsoft Graph, the default) or xdr (the Defender XDR API, which Microsoft retires on "
        "1 February 2027, MC1220762; each process logs one warning).",
    )
    hunting_surface: Literal["graph", "xdr", "mde"] = Field(
        default="graph",
        title="Hunting API",
        description="Where hunting queries run: graph (runHuntingQuery, the default), xdr or "
        "mde (both retire on 1 February 2027; each process logs one warning).",
    )

    @classmethod
    def get_description(cls) -> str | None:
        """The block catalogue's description: the docstring, Sphinx roles as code spans."""
        return ui_text(super().get_description())

    #: the fields the block's form shows first, in this order (what the block cannot work
    #: without: the tenant, the app, the credential); then the block's other fields, then the
    #: connection settings every block shares (cloud, host overrides, proxy, limits)
    _form_first: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def model_json_schema(cls, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """The block's schema (the Prefect UI's form), fields in :attr:`_form_first` order."""
        schema = super().model_json_schema(*args, **kwargs)
        props: dict[str, Any] = schema.get("properties") or {}
        shared = list(DefenderConnectionMixin.model_fields)
        own = [n for n in cls.model_fields if n not in shared and n not in cls._form_first]
        order = [n for n in (*cls._form_first, *own, *shared) if n in props]
        order += [n for n in props if n not in order]  # anything else, as it came
        schema["properties"] = {name: props[name] for name in order}
        for position, name in enumerate(order):
            if isinstance(props[name], dict):
                props[name]["position"] = position
        return schema

    @model_validator(mode="before")
    @classmethod
    def _time_scaled_limits(cls, data: Any) -> Any:
        """``rate_limit_time_scale`` (the emulator's, given to ``from_emulator``; kept by blocks
        saved before it left the form) becomes the equivalent ``rate_limits``: every
        documented window divided by it."""
        if not isinstance(data, dict) or "rate_limit_time_scale" not in data:
            return data
        data = dict(data)
        given = data.pop("rate_limit_time_scale")
        scale = 1.0 if given is None else float(given)
        if scale <= 0:
            raise ValueError("rate_limit_time_scale must be positive")
        if scale != 1.0:
            data["rate_limits"] = scaled_limit_overrides(data.get("rate_limits"), scale)
        return data

    @field_validator("authority_host", "xdr_base_url", "mde_base_url", "graph_base_url")
    @classmethod
    def _https(cls, v: str | None) -> str | None:
        if v is None or v == "":
            return None
        if not v.startswith("https://"):
            raise ValueError(f"must be an https:// URL (got {v!r}); plain http is never used")
        return v.rstrip("/")

    @field_validator("proxy_url")
    @classmethod
    def _proxy_url(cls, v: str | None) -> str | None:
        return check_proxy_url(v) if v else None

    @model_validator(mode="after")
    def _endpoints_valid(self) -> DefenderConnectionMixin:
        self.endpoints()  # raises ValueError with a clear message
        if (self.proxy_username or self.proxy_password) and not self.proxy_url:
            raise ValueError("proxy_username/proxy_password need proxy_url")
        self.proxy()  # validates the user name
        bundle = self.ca_bundle
        if bundle and "-----BEGIN" not in bundle and not Path(bundle).is_file():
            raise ValueError(f"ca_bundle: no such file {self.ca_bundle!r}")
        return self

    def endpoints(self) -> CloudEndpoints:
        """The resolved hosts and scopes."""
        return cloud_endpoints(
            self.cloud,
            authority_host=self.authority_host,
            xdr_base_url=self.xdr_base_url,
            mde_base_url=self.mde_base_url,
            graph_base_url=self.graph_base_url,
            xdr_scope=self.xdr_scope,
            mde_scope=self.mde_scope,
            graph_scope=self.graph_scope,
        )

    def proxy(self) -> ProxyConfig | None:
        """The explicit proxy of this block, if any (never taken from the environment)."""
        if not self.proxy_url:
            return None
        return ProxyConfig(
            url=self.proxy_url, username=self.proxy_username, password=self.proxy_password
        )

    @classmethod
    def _on_emulator(
        cls, conn: dict[str, Any], time_scale: float, values: dict[str, Any], fields: dict[str, Any]
    ) -> Self:
        """This block with ``values``, every host pointed at the emulator ``conn``
        (:func:`emulator_overrides`) and its tenant named as the emulator names it, then the
        caller's ``fields``, which win."""
        names = [
            t.get("display_name") or ""
            for t in conn.get("tenants", [])
            if t.get("tenant_id") == values.get("tenant_id")
        ]
        named = {"tenant_name": names[0]} if names and "tenant_name" in cls.model_fields else {}
        return cls(**{**values, **named, **emulator_overrides(conn, time_scale), **fields})

    def client_settings(self) -> ClientSettings:
        """Client behaviour from the block's fields."""
        return ClientSettings(
            ca_bundle=self.ca_bundle,
            proxy=self.proxy(),
            max_concurrency=self.max_concurrency,
            rate_limits={k: [tuple(p) for p in v] for k, v in (self.rate_limits or {}).items()}
            or None,
            incident_surface=self.incident_surface,
            hunting_surface=self.hunting_surface,
        )


def tenant_name_field() -> Any:
    """The ``tenant_name`` field of a one-tenant block: how reports and approval forms name the
    tenant (a partner block names its customers in ``tenants``)."""
    return Field(
        default="",
        max_length=100,
        title="Tenant name",
        description="A name for reports and approval forms, e.g. 'Contoso' (empty: the tenant "
        "ID is shown).",
    )


def validate_tenant(value: str, field: str = "tenant_id") -> str:
    """A tenant id must be a GUID (the directory id shown in Entra ID's overview); returned as
    text in its canonical form (one carried as checked from a playbook is not parsed again)."""
    try:
        return str(check_guid(value, field))
    except ValueError as exc:
        raise ValueError(str(exc)) from None


def certificate_from_fields(
    private_key: SecretStr | None,
    thumbprint: str | None,
    certificate_pem: str | None,
    passphrase: SecretStr | None,
) -> CertificateCredential | None:
    """A certificate credential when a private key is given; validates what goes with it."""
    if private_key is None:
        if thumbprint or certificate_pem:
            raise ValueError("certificate_thumbprint/certificate_pem need certificate_private_key")
        return None
    key = private_key.get_secret_value()
    if "PRIVATE KEY-----" not in key:
        raise ValueError("certificate_private_key must be a PEM private key")
    if not thumbprint and not certificate_pem:
        raise ValueError(
            "a certificate credential needs certificate_thumbprint (SHA-1 hex) or certificate_pem"
        )
    if thumbprint:
        clean = thumbprint.replace(":", "").strip()
        if len(clean) != 40 or any(c not in "0123456789abcdefABCDEF" for c in clean):
            raise ValueError("certificate_thumbprint must be 40 hexadecimal characters (SHA-1)")
    if certificate_pem and "BEGIN CERTIFICATE" not in certificate_pem:
        raise ValueError("certificate_pem must be a PEM certificate")
    return CertificateCredential(
        private_key_pem=private_key,
        thumbprint=thumbprint,
        public_certificate_pem=certificate_pem,
        passphrase=passphrase,
    )


def check_federation(enabled: bool, token_file: str | None) -> bool:
    """Whether workload identity federation is configured (a token file path turns it on).

    The path must be absolute; the file itself is only read when a token is needed (on AKS it
    appears when the pod starts and is rotated by the kubelet).
    """
    if token_file is not None and token_file.strip():
        if any(ord(c) < 32 for c in token_file) or not Path(token_file).is_absolute():
            raise ValueError("federated_token_file must be an absolute file path")
        return True
    return bool(enabled)


#: FederatedTokenFile readers shared per path, so a rotation is noticed once per process
_ASSERTIONS: dict[str, FederatedTokenFile] = {}


def federated_assertion(token_file: str | None) -> tuple[FederatedTokenFile, str]:
    """The shared ``client_assertion`` callable for ``token_file`` (None: the AKS variable) and
    its registry key."""
    key = token_file or f"${AKS_TOKEN_FILE_VARIABLE}"
    reader = _ASSERTIONS.get(key)
    if reader is None:
        reader = _ASSERTIONS[key] = FederatedTokenFile(token_file)
    return reader, key


def load_emulator_connection(path: str | Path) -> dict[str, Any]:
    """Read the emulator's ``connection.json`` (a file or the directory holding it)."""
    p = Path(path)
    if p.is_dir():
        p = p / "connection.json"
    data: dict[str, Any] = json.loads(p.read_text())
    return data


def emulator_connection(connection: str | Path | dict[str, Any]) -> dict[str, Any]:
    """The emulator's connection settings: ``connection`` itself when it is a dict already, else
    read by :func:`load_emulator_connection` from that path."""
    return connection if isinstance(connection, dict) else load_emulator_connection(connection)


def scaled_limit_overrides(
    overrides: dict[str, list[tuple[int, float]]] | None, scale: float
) -> dict[str, list[tuple[int, float]]]:
    """Every family's limits (the documented ones, or ``overrides``) with each window divided by
    ``scale``, as ``rate_limits`` pairs."""
    limits = scaled(ClientSettings(rate_limits=overrides).limits(), scale)
    return {family: [(x.calls, x.seconds) for x in pairs] for family, pairs in limits.items()}


def emulator_overrides(conn: dict[str, Any], time_scale: float = 1.0) -> dict[str, Any]:
    """Block fields pointing every host at the emulator described by ``conn``."""
    return {
        "authority_host": conn["authority_host"],
        "xdr_base_url": conn["xdr_base_url"],
        "mde_base_url": conn["mde_base_url"],
        "graph_base_url": conn["graph_base_url"],
        "ca_bundle": conn["ca_bundle"],
        "rate_limit_time_scale": time_scale,
    }
