"""The Defender client without Prefect: auth (msal), transport (httpx), limits, paging, models.

Examples:
    >>> from prefect_defender.api import DefenderClient, cloud_endpoints
"""

from prefect_defender.api.auth import (
    AccessToken,
    AppTokenProvider,
    CertificateCredential,
    TokenProvider,
    UserTokenProvider,
    admin_consent_url,
)
from prefect_defender.api.catalog import CATALOG, Endpoint, endpoint
from prefect_defender.api.client import ClientSettings, DefenderClient
from prefect_defender.api.clouds import Cloud, CloudEndpoints, Surface, cloud_endpoints
from prefect_defender.api.errors import (
    ActionAlreadyInProgressError,
    AuthenticationError,
    BadRequestError,
    ConsentRequiredError,
    DeadlineExceededError,
    DefenderError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    ServerError,
    SignInRequiredError,
    TransportError,
    UnsafeRequestError,
    ValidationError,
)

__all__ = [
    "CATALOG",
    "AccessToken",
    "ActionAlreadyInProgressError",
    "AppTokenProvider",
    "AuthenticationError",
    "BadRequestError",
    "CertificateCredential",
    "ClientSettings",
    "Cloud",
    "CloudEndpoints",
    "ConsentRequiredError",
    "DeadlineExceededError",
    "DefenderClient",
    "DefenderError",
    "Endpoint",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitedError",
    "ServerError",
    "SignInRequiredError",
    "Surface",
    "TokenProvider",
    "TransportError",
    "UnsafeRequestError",
    "UserTokenProvider",
    "ValidationError",
    "admin_consent_url",
    "cloud_endpoints",
    "endpoint",
]
