"""Keep signed links out of log lines written by the HTTP libraries.

``httpx`` logs every request at INFO as ``HTTP Request: GET <url> ...``, query string included.
For a download link (a package or live-response SAS URL) the query *is* the credential
(``sig=...``), so a worker at INFO or DEBUG would write a usable link to its logs. The filter
below, installed on the ``httpx`` logger when the transport is imported, replaces the values of
credential-like query parameters (``sig``, ``signature``, ``token``, ``code`` ...) in that
logger's record arguments with ``REDACTED``. Other parameters and every other logger are left
alone; bearer tokens never reach a log line at all (httpx logs no headers).
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = ["SECRET_QUERY_PARAMS", "install_log_redaction", "redact_url"]

#: query parameters whose values are credentials (compared case-insensitively)
SECRET_QUERY_PARAMS = frozenset(
    {
        "sig",
        "signature",
        "x-amz-signature",
        "x-goog-signature",
        "token",
        "access_token",
        "refresh_token",
        "id_token",
        "code",
        "client_secret",
        "client_assertion",
        "password",
    }
)


def redact_url(url: str) -> str:
    """``url`` with the values of credential-like query parameters replaced by ``REDACTED``.

    Examples:
        >>> redact_url("https://h.example/p.zip?se=2030&sig=abc%2Bdef")
        'https://h.example/p.zip?se=2030&sig=REDACTED'
    """
    parts = urlsplit(url)
    if not parts.query:
        return url
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    if not any(k.lower() in SECRET_QUERY_PARAMS for k, _ in pairs):
        return url
    query = urlencode(
        [(k, "REDACTED" if k.lower() in SECRET_QUERY_PARAMS else v) for k, v in pairs],
        safe="$,:",
    )
    return urlunsplit(parts._replace(query=query))


def _redact(value: Any) -> Any:
    text = str(value)
    if "?" in text and "://" in text:
        return redact_url(text)
    return value


class _RedactSignedLinks(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and record.args:
            record.args = tuple(_redact(a) for a in record.args)
        elif isinstance(record.msg, str) and "?" in record.msg:
            record.msg = _redact(record.msg)
        return True


_FILTER = _RedactSignedLinks()


def install_log_redaction(logger_names: tuple[str, ...] = ("httpx",)) -> None:
    """Add the redaction filter to the named loggers (once each)."""
    for name in logger_names:
        target = logging.getLogger(name)
        if _FILTER not in target.filters:
            target.addFilter(_FILTER)
