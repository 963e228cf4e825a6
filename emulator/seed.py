"""Deterministic seed data: tenants, apps and users, the planted indicators (:data:`IOCS`) and
Defender's timestamp format; a customer's machines, incidents and alerts are
:mod:`.customer_seed`.
"""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime
from pathlib import Path

from prefect_defender.emulator.permissions import APP_ROLES, READONLY_ROLES
from prefect_defender.emulator.pki import app_certificate
from prefect_defender.emulator.state import App, EmulatorState, Tenant, User, tenant_guid

__all__ = ["IOCS", "is_customer", "iso", "seed_identities"]

TENANTS = [
    ("woodgrove", "Woodgrove Security (MSSP)", "woodgrove.example"),
    ("contoso", "Contoso Ltd", "contoso.example"),
    ("fabrikam", "Fabrikam Inc", "fabrikam.example"),
    ("northwind", "Northwind Traders", "northwind.example"),
]
CUSTOMERS = ("contoso", "fabrikam", "northwind")


def is_customer(name: str) -> bool:
    """Customer tenants carry Defender data; the MSSP's home tenant does not."""
    return name in CUSTOMERS or name.startswith("cust")


#: indicators planted in incidents and hunting tables
IOCS: dict[str, str] = {
    "sha256": "6b86b273ff34fce19d6b804eff5a3f5747ada4eaa22f1d49c01e52ddb7875b4b",
    "sha1": "356a192b7913b04c54574d18c28d46e6395428ab",
    "md5": "c4ca4238a0b923820dcc509a6f75849b",
    "file_name": "invoice_update.exe",
    "c2_ip": "203.0.113.66",
    "c2_domain": "update-check.evil.example",
    "phish_url": "https://login.contoso-support.example/reset",
    "account": "jdoe",
}


def iso(t: datetime) -> str:
    """ISO 8601 UTC with a ``Z`` suffix and seven fractional digits, as Defender writes it."""
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


def seed_identities(state: EmulatorState, data_dir: Path) -> None:
    """Tenants, the four apps and the users (secrets kept in ``secrets.json`` for reuse)."""
    extra = [
        (f"cust{i:02d}", f"Customer {i:02d}", f"cust{i:02d}.example")
        for i in range(1, int(state.config.get("extra_customer_tenants") or 0) + 1)
    ]
    for name, display, domain in [*TENANTS, *extra]:
        tid = tenant_guid(name)
        state.tenants[tid] = Tenant(tid, name, display, domain)
    secret = _Secrets(state, data_dir / "secrets.json")
    _seed_apps(state, data_dir, secret, [name for name, _, _ in extra])
    _seed_users(state, secret)
    secret.save()


class _Secrets:
    """Client secrets and passwords: a configured override, else the saved one, else a new one
    (saved for the next start)."""

    def __init__(self, state: EmulatorState, store: Path) -> None:
        self.state, self.store = state, store
        self.saved: dict[str, str] = json.loads(store.read_text()) if store.exists() else {}

    def get(self, key: str) -> str:
        override = (self.state.config.get("apps", {}).get(key) or {}).get("client_secret")
        if override:
            return str(override)
        if key not in self.saved:
            self.saved[key] = secrets.token_urlsafe(30)
        return self.saved[key]

    def save(self) -> None:
        self.store.write_text(json.dumps(self.saved, indent=2))
        self.store.chmod(0o600)


def _seed_apps(
    state: EmulatorState, data_dir: Path, secret: _Secrets, extra_customers: list[str]
) -> None:
    """The SOC app (secret and certificate), a read-only app, the MSSP partner app (consented
    by contoso, fabrikam and the extra customers) and a public CLI client."""
    contoso, woodgrove = tenant_guid("contoso"), tenant_guid("woodgrove")
    cert = app_certificate(data_dir, "soc")
    state.apps["soc"] = App(
        "soc",
        tenant_guid("app-soc"),
        contoso,
        "confidential",
        secret.get("soc"),
        cert.sha1,
        cert.sha256,
        cert.certificate,
        dict(APP_ROLES),
        {contoso},
        {"private_key_pem": str(cert.key_pem), "certificate_pem": str(cert.cert_pem)},
    )
    state.apps["readonly"] = App(
        "readonly",
        tenant_guid("app-readonly"),
        contoso,
        "confidential",
        secret.get("readonly"),
        roles=dict(READONLY_ROLES),
        consented_tenants={contoso},
    )
    state.apps["partner"] = App(
        "partner",
        tenant_guid("app-partner"),
        woodgrove,
        "confidential",
        secret.get("partner"),
        roles=dict(APP_ROLES),
        # consented by contoso, fabrikam and the extra benchmark customers, not northwind
        consented_tenants={tenant_guid("contoso"), tenant_guid("fabrikam")}
        | {tenant_guid(name) for name in extra_customers},
    )
    state.apps["cli"] = App(
        "cli", tenant_guid("app-cli"), contoso, "public", consented_tenants={contoso}
    )


def _seed_users(state: EmulatorState, secret: _Secrets) -> None:
    """An analyst and a responder in every customer tenant."""
    for name, _, domain in TENANTS[1:]:
        tid = tenant_guid(name)
        for user in ("analyst", "responder"):
            upn = f"{user}@{domain}"
            state.users[upn] = User(
                upn, secret.get(f"user:{upn}"), tid, tenant_guid(f"user-{upn}"), user.title()
            )
