"""Workload identity federation: a client assertion read from a projected token file.

Instead of a client secret or a certificate, the app registration trusts an external OIDC
issuer through a *federated identity credential* (issuer + subject + audience). The platform the
worker runs on writes a short-lived JWT from that issuer into a file and rotates it:

* AKS workload identity mounts a service-account token and sets ``AZURE_FEDERATED_TOKEN_FILE``
  (plus ``AZURE_CLIENT_ID``/``AZURE_TENANT_ID``, which the blocks do not read: tenant and client
  come from the block itself);
* any other platform (GitHub Actions, another cloud, SPIFFE) can write the file too.

:class:`FederatedTokenFile` is the callable msal takes as ``client_assertion``: msal calls it each
time it needs a new token, and it re-reads the file when the file changed (inode, size or
modification time), so a rotated token is picked up without a restart. Nothing secret is stored
in a block: only the file's path.

Example:
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "token")
    >>> _ = open(path, "w").write("eyJhbGciOi.e30.sig\\n")
    >>> FederatedTokenFile(path)()
    'eyJhbGciOi.e30.sig'
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from prefect_defender.api.errors import AuthenticationError

__all__ = ["AKS_TOKEN_FILE_VARIABLE", "FederatedTokenFile", "resolve_token_file"]

#: The variable AKS workload identity (and azure-identity) use for the projected token's path.
AKS_TOKEN_FILE_VARIABLE = "AZURE_FEDERATED_TOKEN_FILE"

#: A projected service-account token is a few kB; anything far larger is not one.
_MAX_BYTES = 64 * 1024


def resolve_token_file(path: str | None) -> str:
    """``path``, or ``$AZURE_FEDERATED_TOKEN_FILE`` when no path is given.

    Raises :class:`AuthenticationError` when neither names a file path.
    """
    chosen = path or os.environ.get(AKS_TOKEN_FILE_VARIABLE, "")
    if not chosen:
        raise AuthenticationError(
            "workload identity federation needs a token file: set federated_token_file on the "
            f"block or the {AKS_TOKEN_FILE_VARIABLE} environment variable (AKS sets it when the "
            "pod's service account is annotated for workload identity)"
        )
    return chosen


class FederatedTokenFile:
    """A ``client_assertion`` callable reading a (rotating) token file.

    The file is read again whenever its inode, size or modification time changed since the last
    read; otherwise the previous content is returned. Errors name the file, never its content.
    """

    def __init__(self, path: str | None = None) -> None:
        self._given = path
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int] | None = None
        self._value = ""
        self.reads = 0  # how many times the file was actually read (tests, diagnostics)

    @property
    def path(self) -> str:
        """The file in use (the block's path, else ``$AZURE_FEDERATED_TOKEN_FILE``)."""
        return resolve_token_file(self._given)

    def __call__(self) -> str:
        path = Path(self.path)
        with self._lock:
            try:
                st = path.stat()
            except OSError as exc:
                raise AuthenticationError(
                    f"cannot read the federated token file {path}: {exc.strerror or exc}"
                ) from None
            stamp = (st.st_ino, st.st_size, st.st_mtime_ns)
            if stamp != self._stamp:
                if st.st_size > _MAX_BYTES:
                    raise AuthenticationError(
                        f"the federated token file {path} is {st.st_size} bytes; a token is "
                        "a few kB"
                    )
                try:
                    text = path.read_text(encoding="ascii").strip()
                except (OSError, UnicodeDecodeError) as exc:
                    raise AuthenticationError(
                        f"cannot read the federated token file {path}: {type(exc).__name__}"
                    ) from None
                if text.count(".") != 2 or any(c.isspace() for c in text):
                    raise AuthenticationError(
                        f"the federated token file {path} does not hold a JWT (three "
                        "base64url parts separated by dots)"
                    )
                self._value, self._stamp = text, stamp
                self.reads += 1
            return self._value

    def __repr__(self) -> str:
        return f"FederatedTokenFile({self._given or '$' + AKS_TOKEN_FILE_VARIABLE!r})"
