"""Keep credentials out of what this package writes: log lines, error texts, outcomes.

Two kinds of text carry them:

* **Links.** ``httpx`` logs every request at INFO as ``HTTP Request: GET <url> ...``, query
  string included. For a download link (a package or live-response SAS URL) the query *is* the
  credential (``sig=...``), so the filter installed on the ``httpx`` logger when the transport
  is imported replaces the values of credential-like query parameters (:data:`SECRET_QUERY_PARAMS`)
  with ``REDACTED`` (:func:`redact_url`).
* **Texts taken from a server.** A token endpoint or an API may quote the request back: the
  posted client secret, client assertion, password or refresh token, the ``Authorization``
  header, a link's credentials. :func:`scrub` removes every secret value this process handles
  (:func:`remember_secret`: client secrets, private keys and each line of them, tokens, the
  credentials msal posts), as is or encoded, and whatever has a credential's shape (PEM blocks,
  JWTs, ``Bearer`` values, credential form fields and JSON members, URL userinfo).
  :class:`~prefect_defender.api.errors.DefenderError` scrubs its message, code, target and URL,
  so every exception text, log line, outcome, artifact and event made from one is clean; msal's
  HTTP client scrubs an error answer before msal reads it.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl, quote, quote_plus, urlencode, urlsplit, urlunsplit

__all__ = [
    "SECRET_FORM_FIELDS",
    "SECRET_QUERY_PARAMS",
    "install_log_redaction",
    "redact_url",
    "remember_secret",
    "scrub",
]

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
#: form fields (and JSON members) whose values are credentials, as msal posts them
SECRET_FORM_FIELDS = frozenset(
    {
        "client_secret",
        "client_assertion",
        "assertion",
        "refresh_token",
        "access_token",
        "id_token",
        "password",
        "device_code",
        "code",
        "code_verifier",
    }
)
#: shortest value scrubbed by value (a shorter one would match ordinary words)
MIN_SECRET = 8
#: secret values remembered per process (the newest; tokens come and go)
MAX_REMEMBERED = 512


def redact_url(url: str) -> str:
    """``url`` without credentials: the values of credential-like query parameters replaced by
    ``REDACTED``, and userinfo (``user:password@``) too.

    Examples:
        >>> redact_url("https://h.example/p.zip?se=2030&sig=abc%2Bdef")
        'https://h.example/p.zip?se=2030&sig=REDACTED'
        >>> redact_url("https://admin:pw@h.example/x")
        'https://REDACTED@h.example/x'
    """
    parts = urlsplit(url)
    if "@" in parts.netloc:
        parts = parts._replace(netloc="REDACTED@" + parts.netloc.rsplit("@", 1)[1])
    if not parts.query:
        return urlunsplit(parts)
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    if not any(k.lower() in SECRET_QUERY_PARAMS for k, _ in pairs):
        return urlunsplit(parts)
    query = urlencode(
        [(k, "REDACTED" if k.lower() in SECRET_QUERY_PARAMS else v) for k, v in pairs],
        safe="$,:",
    )
    return urlunsplit(parts._replace(query=query))


# -- secrets in texts taken from a server ----------------------------------------------------------
def _forms(secret: str) -> tuple[str, ...]:
    """A secret as a server may quote it: as is, URL- or form-encoded, JSON-escaped."""
    return tuple(
        dict.fromkeys(
            (
                secret,
                quote(secret, safe=""),
                quote_plus(secret),
                secret.replace("/", "\\/"),
                secret.replace("\n", "\\n"),
            )
        )
    )


class _Remembered:
    """The secret values of this process, newest last, at most :data:`MAX_REMEMBERED`."""

    def __init__(self) -> None:
        self._forms: dict[str, tuple[str, ...]] = {}
        self._longest_first: list[str] = []
        self._lock = threading.Lock()

    def add(self, value: str) -> None:
        if len(value) < MIN_SECRET:
            return
        with self._lock:
            if value in self._forms:
                return
            self._forms[value] = _forms(value)
            while len(self._forms) > MAX_REMEMBERED:
                self._forms.pop(next(iter(self._forms)))
            every = {f for forms in self._forms.values() for f in forms}
            self._longest_first = sorted(every, key=len, reverse=True)

    def forms(self) -> list[str]:
        """Every remembered form, longest first (a secret inside another goes after it)."""
        return self._longest_first


_REMEMBERED = _Remembered()


def remember_secret(*values: str | None) -> None:
    """Scrub ``values`` (a client secret, a private key, a token, a posted assertion) from
    every text :func:`scrub` cleans from now on; a multi-line value (a PEM) line by line too.

    Example:
        >>> remember_secret("my-app-secret-0001")
        >>> scrub("the server said: my-app-secret-0001")
        'the server said: REDACTED'
    """
    for value in values:
        if not value or not isinstance(value, str):
            continue
        _REMEMBERED.add(value)
        if "\n" in value:
            for line in value.splitlines():
                _REMEMBERED.add(line.strip())


_PEM = re.compile(r"-----BEGIN [A-Z0-9 ]+-----.*?(?:-----END [A-Z0-9 ]+-----|\Z)", re.DOTALL)
#: a JWT, or the start of one (a text cut short may hold only its header and part of the rest)
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{8,}(?:\.[A-Za-z0-9_-]*){0,2}")
_BEARER = re.compile(r"\b(Bearer|PoP)(?:\s+|%20|\+)[A-Za-z0-9\-._~+/%]{8,}=*", re.IGNORECASE)
_NAMES = "|".join(sorted(SECRET_FORM_FIELDS - {"code"}))  # "code" is too common a word
_FORM_PAIR = re.compile(rf"\b({_NAMES})(?:=|%3D)[^&\s\"',;]+", re.IGNORECASE)
_JSON_PAIR = re.compile(rf"(\\?\"(?:{_NAMES})\\?\"\s*:\s*\\?\")[^\"\\]*", re.IGNORECASE)
_USERINFO = re.compile(r"\b([a-z][a-z0-9+.-]*://)[^/\s@?#]+@", re.IGNORECASE)


def scrub(text: str, secrets: Iterable[str | None] = ()) -> str:
    """``text`` without credentials: ``secrets`` and every remembered secret (as is or
    encoded), PEM blocks, JWTs (tokens, assertions), ``Bearer`` values, credential form fields
    and JSON members, and URL userinfo, each replaced by ``REDACTED``.

    Examples:
        >>> scrub("bad request: client_secret=s3cr3t-value&grant_type=x")
        'bad request: client_secret=REDACTED&grant_type=x'
        >>> scrub("Authorization: Bearer abcdefgh.ijkl; see https://u:pw@h.example/x")
        'Authorization: Bearer REDACTED; see https://REDACTED@h.example/x'
        >>> scrub("echo: one-time-value-1", ["one-time-value-1"])
        'echo: REDACTED'
    """
    if not text:
        return text
    text = str(text)
    given = sorted(
        {f for s in secrets if s and len(s) >= MIN_SECRET for f in _forms(s)}, key=len, reverse=True
    )
    for secret in (*given, *_REMEMBERED.forms()):
        if secret in text:
            text = text.replace(secret, "REDACTED")
    text = _PEM.sub("REDACTED", text)
    text = _JWT.sub("REDACTED", text)
    text = _BEARER.sub(lambda m: f"{m.group(1)} REDACTED", text)
    text = _FORM_PAIR.sub(lambda m: f"{m.group(1)}=REDACTED", text)
    text = _JSON_PAIR.sub(lambda m: f"{m.group(1)}REDACTED", text)
    return _USERINFO.sub(lambda m: f"{m.group(1)}REDACTED@", text)


# -- log records -------------------------------------------------------------------------------
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


class _ScrubRecords(logging.Filter):
    """Scrub a record's text (msal logs what it received from the token endpoint)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            text = record.getMessage()
        except (TypeError, ValueError):
            return True
        clean = scrub(text)
        if clean != text:
            record.msg, record.args = clean, ()
        return True


_FILTER = _RedactSignedLinks()
_SCRUB = _ScrubRecords()
#: msal's module loggers (a filter applies to its own logger's records only, not children's)
_MSAL_LOGGERS = (
    "msal.application",
    "msal.authority",
    "msal.token_cache",
    "msal.oauth2cli.oauth2",
    "msal.oauth2cli.oidc",
    "msal.oauth2cli.assertion",
    "msal.throttled_http_client",
)


def install_log_redaction(logger_names: tuple[str, ...] = ("httpx",)) -> None:
    """Add the link filter to the named loggers and the scrubbing filter to msal's module
    loggers (once each)."""
    for name in logger_names:
        target = logging.getLogger(name)
        if _FILTER not in target.filters:
            target.addFilter(_FILTER)
    for name in _MSAL_LOGGERS:
        target = logging.getLogger(name)
        if _SCRUB not in target.filters:
            target.addFilter(_SCRUB)
