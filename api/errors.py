"""Typed errors carrying Defender's own error code, message and tracking id.

MDE and XDR answer ``{"error": {"code", "message", "target"}}``; Graph adds ``innerError`` with a
``request-id``. Entra's token endpoint answers ``error`` / ``error_description`` (AADSTS codes).
Every error raised by this package derives from :class:`DefenderError`; none of them ever holds a
token or a client secret in its text: its message, code, target and URL are scrubbed
(:func:`~prefect_defender.api.redact.scrub`) when it is made, whatever a server quoted.
"""

from __future__ import annotations

from typing import Any

from prefect_defender.api.redact import redact_url, scrub

__all__ = [
    "ActionAlreadyInProgressError",
    "ApiRetiredError",
    "AuthenticationError",
    "BadRequestError",
    "ConsentRequiredError",
    "DeadlineExceededError",
    "DefenderError",
    "InvalidResponseError",
    "NotFoundError",
    "PagingError",
    "PermissionDeniedError",
    "RateLimitedError",
    "ResponseTooDeepError",
    "ResponseTooLargeError",
    "ServerError",
    "SignInRequiredError",
    "TransportError",
    "UnsafeRequestError",
    "ValidationError",
    "error_from_response",
]


class DefenderError(Exception):
    """Base class: an HTTP status (0 when no answer), Defender's code, message and target."""

    def __init__(
        self,
        message: str,
        *,
        status: int = 0,
        code: str | None = None,
        target: str | None = None,
        request_id: str | None = None,
        method: str | None = None,
        url: str | None = None,
    ) -> None:
        # texts may come from a server that quotes the request: no credential stays in them
        self.message = scrub(message)
        self.status = status
        self.code = scrub(code) if code else code
        self.target = scrub(target) if target else target
        self.request_id = request_id
        self.method = method
        self.url = scrub(redact_url(url)) if url else url
        super().__init__(self._render())

    def at(
        self, *, method: str | None = None, url: str | None = None, status: int | None = None
    ) -> DefenderError:
        """This error placed at a request (``method``, ``url``, ``status``), its text redone.

        Example:
            >>> str(DefenderError("too deep").at(method="GET", url="https://h.example/x"))
            'too deep (GET https://h.example/x)'
        """
        self.method = method or self.method
        self.url = scrub(redact_url(url)) if url else self.url
        self.status = self.status if status is None else status
        self.args = (self._render(),)
        return self

    def _render(self) -> str:
        head = f"{self.status} {self.code}" if self.status else (self.code or "")
        where = f" ({self.method} {self.url})" if self.method and self.url else ""
        tracking = f" [target {self.target}]" if self.target else ""
        prefix = f"{head}: " if head else ""
        return f"{prefix}{self.message}{where}{tracking}"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe summary, used for per-item outcomes and artifacts."""
        return {
            "type": type(self).__name__,
            "status": self.status,
            "code": self.code,
            "message": self.message,
            "target": self.target,
        }


class ValidationError(DefenderError, ValueError):
    """Input rejected by this package before any request left the process."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        self.field = field
        super().__init__(message, code="InvalidInput")


class UnsafeRequestError(DefenderError):
    """A request was refused because it would send a token to a host outside the allowed set."""


class TransportError(DefenderError):
    """No usable answer: connection failed, reset or timed out."""

    def __init__(self, message: str, *, applied_unknown: bool = False, **kw: Any) -> None:
        self.applied_unknown = applied_unknown
        super().__init__(message, **kw)


class InvalidResponseError(TransportError):
    """An answer that is not what the API documents: a redirect (3xx, never followed), or a
    success whose body is not JSON (a proxy's or captive portal's HTML page, a truncated body).

    A subclass of :class:`TransportError`: there is no usable answer, and for a write
    ``applied_unknown`` is True, so callers reconcile it like a lost answer.
    """


class DeadlineExceededError(TransportError):
    """The call did not finish within its deadline: connecting, the token, waiting for the
    answer, every byte of its body (read no slower than the bytes-per-second floor), retries
    and rate-limit waits included. ``applied_unknown`` is True for a write that may have
    reached the service."""


class ResponseTooLargeError(InvalidResponseError):
    """An answer whose decoded body exceeds the size allowed for its kind of endpoint
    (checked while reading and inflating it, so the excess is never held in memory)."""


class ResponseTooDeepError(InvalidResponseError):
    """An answer whose JSON nests deeper than the allowed depth."""


class PagingError(InvalidResponseError):
    """Paging that would not end: a repeated ``@odata.nextLink`` or page, a page that
    ignores ``$skip``, more pages than the total count implies, or more than the page bound.

    ``items_read`` and ``pages_read`` say how far the listing got; ``partial`` holds the
    items a collecting caller had read when it stopped (empty for a plain iterator, whose
    consumer already has them).
    """

    def __init__(
        self,
        message: str,
        *,
        items_read: int = 0,
        pages_read: int = 0,
        partial: list[Any] | None = None,
        **kw: Any,
    ) -> None:
        self.items_read = items_read
        self.pages_read = pages_read
        self.partial: list[Any] = list(partial or [])
        super().__init__(message, **kw)


class AuthenticationError(DefenderError):
    """No token could be obtained, or the API rejected the token (401)."""


class ConsentRequiredError(AuthenticationError):
    """The multi-tenant app has not been consented in that customer tenant."""


class SignInRequiredError(AuthenticationError):
    """The stored delegated sign-in is gone; run ``prefect-defender login`` again."""


class PermissionDeniedError(DefenderError):
    """403: the token lacks the permission the endpoint needs.

    ``required`` lists the permissions that would allow the call, ``missing`` those the token
    does not carry, and ``api`` names the Entra API ("WindowsDefenderATP", ...) they belong to.
    """

    def __init__(
        self,
        message: str,
        *,
        required: tuple[str, ...] = (),
        api: str | None = None,
        **kw: Any,
    ) -> None:
        self.required = required
        self.api = api
        super().__init__(message, **kw)


class NotFoundError(DefenderError):
    """404: the resource does not exist (or is not visible to this app)."""


class BadRequestError(DefenderError):
    """400 other than the specific cases below: Defender rejected the request."""


class ActionAlreadyInProgressError(BadRequestError):
    """400: an action of this type is already pending or running on the machine.

    ``existing`` is the pending action when the client could find it.
    """

    def __init__(self, message: str, *, existing: Any = None, **kw: Any) -> None:
        self.existing = existing
        super().__init__(message, **kw)


class RateLimitedError(DefenderError):
    """429 after the client's retries; ``retry_after`` seconds as the API said."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: Any) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kw)


class ServerError(DefenderError):
    """5xx after the client's retries."""


class ApiRetiredError(DefenderError):
    """The endpoint's API is retired: refused before sending (status 0) when the catalog marks
    it retired, or answered 410 / 404 in a retired API's shape (``api.lifecycle``).

    Not a :class:`NotFoundError`: "that incident does not exist" and "this API is gone" need
    different handling. ``endpoint`` is the catalog name, ``replacement`` the catalog names of
    what replaces it (empty when Microsoft documents none) and ``retired_on`` the date.
    """

    def __init__(
        self,
        message: str,
        *,
        endpoint: str = "",
        replacement: tuple[str, ...] = (),
        retired_on: Any = None,
        **kw: Any,
    ) -> None:
        self.endpoint = endpoint
        self.replacement = replacement
        self.retired_on = retired_on
        kw.setdefault("code", "ApiRetired")
        super().__init__(message, **kw)


_ALREADY_IN_PROGRESS_CODES = {"ActiveRequestAlreadyExists"}


def _is_already_in_progress(code: str | None, message: str) -> bool:
    low = message.lower()
    return (code in _ALREADY_IN_PROGRESS_CODES) or (
        "already in progress" in low or "already running" in low
    )


def parse_error_body(body: Any) -> tuple[str | None, str | None, str | None, str | None]:
    """``(code, message, target, request_id)`` from a Defender, Graph or Entra error body."""
    if not isinstance(body, dict):
        return None, None, None, None
    err = body.get("error")
    if isinstance(err, dict):
        inner = err.get("innerError") or err.get("innererror") or {}
        request_id = inner.get("request-id") if isinstance(inner, dict) else None
        return (
            _str(err.get("code")),
            _str(err.get("message")),
            _str(err.get("target")),
            _str(request_id),
        )
    if isinstance(err, str):  # Entra token endpoint
        return err, _str(body.get("error_description")), _str(body.get("correlation_id")), None
    return None, _str(body.get("message")), None, None


def _str(v: Any) -> str | None:
    return v if isinstance(v, str) else (None if v is None else str(v))


def error_from_response(
    status: int,
    body: Any,
    *,
    method: str,
    url: str,
    text: str = "",
    retry_after: float | None = None,
) -> DefenderError:
    """Map an HTTP error answer to the most specific :class:`DefenderError` subclass."""
    code, message, target, request_id = parse_error_body(body)
    msg = message or (text[:500] if text else f"HTTP {status}")
    kw: dict[str, Any] = {
        "status": status,
        "code": code,
        "target": target,
        "request_id": request_id,
        "method": method,
        "url": url,
    }
    if status == 400 and _is_already_in_progress(code, msg):
        return ActionAlreadyInProgressError(msg, **kw)
    if status == 400:
        return BadRequestError(msg, **kw)
    if status == 401:
        return AuthenticationError(msg, **kw)
    if status == 403:
        return PermissionDeniedError(msg, **kw)
    if status == 404:
        return NotFoundError(msg, **kw)
    if status == 429:
        return RateLimitedError(msg, retry_after=retry_after, **kw)
    if status >= 500:
        return ServerError(msg, **kw)
    return DefenderError(msg, **kw)
