"""The one way this package builds an SSL context: certifi's roots plus an optional CA bundle."""

from __future__ import annotations

import ssl

import certifi

__all__ = ["ssl_context"]


def ssl_context(ca_bundle: str | None = None) -> ssl.SSLContext:
    """A verifying SSL context trusting certifi's roots plus ``ca_bundle``.

    ``ca_bundle`` is a path to a PEM file or the PEM text itself. Verification cannot be turned
    off here: there is deliberately no switch for it.
    """
    ctx = ssl.create_default_context(cafile=certifi.where())
    if ca_bundle:
        if "-----BEGIN CERTIFICATE-----" in ca_bundle:
            ctx.load_verify_locations(cadata=ca_bundle)
        else:
            ctx.load_verify_locations(cafile=ca_bundle)
    return ctx
