"""The Defender client without Prefect: auth (msal), transport (httpx), limits, paging, models.

Each name has one home: the client in :mod:`~prefect_defender.api.client`, errors in
:mod:`~prefect_defender.api.errors`, tokens in :mod:`~prefect_defender.api.auth`, clouds in
:mod:`~prefect_defender.api.clouds`, the endpoint catalog in :mod:`~prefect_defender.api.catalog`.

Examples:
    >>> from prefect_defender.api.client import DefenderClient
    >>> from prefect_defender.api.clouds import cloud_endpoints
"""
