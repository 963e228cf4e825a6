"""The one way this package builds an SSL context: certifi's roots plus an optional CA bundle.

Loading certifi's roots costs about 19 ms of CPU and 0.67 MiB per context, and every client
used to build two (API and token endpoint), so a fan-out over 1,000 tenants spent most of its
time there. :func:`ssl_context` now returns one context per process for each CA bundle (and
HTTP/2 choice), shared by every client: a context is safe to share between connections and
threads as long as nobody changes it, and nothing in this package does.

httpcore sets the ALPN protocols on the context it is given, at each connection
(``http/1.1``, plus ``h2`` when HTTP/2 is on), so HTTP/2 clients get a context of their own.
A CA bundle file that is rewritten (a new modification time or size) gets a new context.
"""

from __future__ import annotations

import hashlib
import os
import ssl
import threading
from collections import OrderedDict

import certifi

__all__ = ["clear_ssl_contexts", "ssl_context"]

#: contexts kept per process (a process normally uses one or two CA bundles)
MAX_CONTEXTS = 16
_contexts: OrderedDict[tuple[object, ...], ssl.SSLContext] = OrderedDict()
_lock = threading.Lock()


def _file_key(path: str) -> tuple[object, ...]:
    st = os.stat(path)  # FileNotFoundError as before, from the caller's point of view
    return (os.path.realpath(path), st.st_mtime_ns, st.st_size)


def _key(ca_bundle: str | None, http2: bool) -> tuple[object, ...]:
    roots = _file_key(certifi.where())
    if not ca_bundle:
        extra: tuple[object, ...] = ()
    elif "-----BEGIN CERTIFICATE-----" in ca_bundle:
        extra = ("pem", hashlib.sha256(ca_bundle.encode()).hexdigest())
    else:
        extra = ("file", *_file_key(ca_bundle))
    return (roots, extra, http2)


def _build(ca_bundle: str | None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=certifi.where())
    if ca_bundle:
        if "-----BEGIN CERTIFICATE-----" in ca_bundle:
            ctx.load_verify_locations(cadata=ca_bundle)
        else:
            ctx.load_verify_locations(cafile=ca_bundle)
    return ctx


def ssl_context(ca_bundle: str | None = None, *, http2: bool = False) -> ssl.SSLContext:
    """The process's verifying SSL context trusting certifi's roots plus ``ca_bundle``.

    ``ca_bundle`` is a path to a PEM file or the PEM text itself. The same context is returned
    for the same bundle (and ``http2``), so do not change it. Verification cannot be turned
    off here: there is deliberately no switch for it.

    Examples:
        >>> ctx = ssl_context()
        >>> ctx is ssl_context() and ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname
        True
    """
    key = _key(ca_bundle, http2)
    with _lock:
        ctx = _contexts.get(key)
        if ctx is not None:
            _contexts.move_to_end(key)
            return ctx
    ctx = _build(ca_bundle)  # outside the lock: a slow file system does not stall the others
    with _lock:
        ctx = _contexts.setdefault(key, ctx)
        _contexts.move_to_end(key)
        while len(_contexts) > MAX_CONTEXTS:
            _contexts.popitem(last=False)
    return ctx


def clear_ssl_contexts() -> None:
    """Forget every context (tests; a process that replaced its CA files in place)."""
    with _lock:
        _contexts.clear()
