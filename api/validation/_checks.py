"""Identifier checks and the annotated types built on the checks (see the package)."""

from __future__ import annotations

import ipaddress
import re
import uuid
from collections.abc import Callable, Iterable
from typing import Annotated, Any, TypeVar
from urllib.parse import urlsplit

from pydantic import AfterValidator, ValidatorFunctionWrapHandler, WrapValidator

from prefect_defender.api.errors import ValidationError
from prefect_defender.api.validation._values import (
    CONTROL_CHARACTERS,
    ascii_digits,
    check_comment,
)
from prefect_defender.api.validation._values import fail as _fail
from prefect_defender.api.validation._values import text_of as _text

_S = TypeVar("_S", bound=str)

#: control characters refused in text (tab and newline allowed)
_CONTROL = CONTROL_CHARACTERS

__all__ = [
    "CheckedAlertId",
    "CheckedGuid",
    "CheckedIncidentId",
    "CheckedMachineId",
    "CheckedUpn",
    "as_checked",
    "carry",
    "carry_machine_id",
    "check_domain",
    "check_guid",
    "check_hash",
    "check_incident_id",
    "check_ip",
    "check_machine_id",
    "check_opaque_id",
    "check_sha1",
    "check_sha256",
    "check_upn",
    "check_url",
    "check_user_ref",
    "user_ref_kind",
]


_HEX = re.compile(r"^[0-9a-fA-F]+$")
_MACHINE_ID = re.compile(r"^[0-9a-fA-F]{40}$")
_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
_ALERT_ID = re.compile(r"^[A-Za-z0-9_\-.:]{1,200}$")
_UPN = re.compile(r"^[A-Za-z0-9._'+\-]{1,113}@(?!-)[A-Za-z0-9-]{1,63}(\.[A-Za-z0-9-]{1,63})+$")
_OPAQUE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-.]{0,199}$")
_SAM = re.compile(r"^[^\"/\\\[\]:;|=,+*?<>@\s\x00-\x1f\x7f-\x9f]{1,104}$")

HASH_LENGTHS = {"sha1": 40, "sha256": 64, "md5": 32}


class CheckedGuid(str):
    """A GUID (a tenant id, a user's object id ...) that passed :func:`check_guid`, in the case it
    was given.

    A parameter of the ``TenantId`` or ``UserRef`` input type is carried as one from the
    playbook's or task's entry to the request (:func:`carry`), and no check on its way parses it
    again: :func:`check_guid` only lower-cases it.

    Example:
        >>> tenant = carry(check_guid, CheckedGuid)("6F2B1A6E-0C11-4E43-9C1B-6C5E6B0C2A10", "t")
        >>> tenant, type(tenant).__name__
        ('6F2B1A6E-0C11-4E43-9C1B-6C5E6B0C2A10', 'CheckedGuid')
        >>> check_guid(tenant)  # carried: only lower-cased, not parsed again
        '6f2b1a6e-0c11-4e43-9c1b-6c5e6b0c2a10'
    """

    __slots__ = ()


def check_guid(value: Any, field: str = "id") -> str:
    """A GUID such as a tenant or client id (canonical lower-case form). One given as a
    :class:`CheckedGuid` (carried from its entry) is only lower-cased, and stays one."""
    if type(value) is CheckedGuid:
        return _lower(value)
    text = _text(value, field)
    if not text.isascii():  # uuid.UUID reads non-ASCII digits as hexadecimal ones
        raise _fail(field, f"{text[:60]!r} is not a GUID (ASCII hexadecimal digits only)")
    try:
        parsed = uuid.UUID(text)
    except ValueError:
        raise _fail(
            field, f"{text[:60]!r} is not a GUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)"
        ) from None
    if len(text) != 36:
        raise _fail(field, f"{text[:60]!r} is not a GUID in the 8-4-4-4-12 form")
    return str(parsed)


def _lower(value: _S) -> _S:
    """A carried id in lower case, in its checked type (the same object when it already is)."""
    low = str.lower(value)
    return value if low == value else type(value)(low)


class CheckedMachineId(str):
    """A machine id that passed :func:`check_machine_id`, in the case it was given.

    Carried as such from the public entry (a playbook's or a task's parameter) to the request,
    it is not checked again: :func:`check_machine_id` only lower-cases it.
    """

    __slots__ = ()


def check_machine_id(value: Any, field: str = "machine_id") -> str:
    """A Defender for Endpoint machine id: 40 hexadecimal characters; returned lower-cased, as a
    :class:`CheckedMachineId`. One given as a ``CheckedMachineId`` is only lower-cased.

    Example:
        >>> check_machine_id("0F3C" * 10)
        '0f3c0f3c0f3c0f3c0f3c0f3c0f3c0f3c0f3c0f3c'
    """
    if type(value) is CheckedMachineId:
        return _lower(value)
    text = _text(value, field)
    if not _MACHINE_ID.match(text):
        raise _fail(field, f"{text[:60]!r} is not a machine id (40 hexadecimal characters)")
    return CheckedMachineId(text.lower())


def carry_machine_id(value: Any, field: str = "machine_id") -> Any:
    """``value`` checked as a machine id and passed on as given: as a :class:`CheckedMachineId`
    when it is exactly one (so no later check runs again), else as it was (e.g. with spaces).

    Example:
        >>> carried = carry_machine_id("0F3C" * 10)
        >>> carried == "0F3C" * 10, type(carried).__name__
        (True, 'CheckedMachineId')
    """
    return as_checked(value, check_machine_id(value, field), CheckedMachineId)


#: the checked type of a value: a type, or a function of the checked value giving it
Kind = type[Any] | Callable[[Any], type[Any]]


def as_checked(value: Any, checked: Any, kind: Kind) -> Any:
    """``value``, which a check passed (returning ``checked``), in its checked type ``kind``: an
    id's number as such; text as given when it is ``checked`` up to case, else as given and
    unmarked (e.g. with spaces around it: a later check normalises it).

    Example:
        >>> carried = as_checked("6F2B1A6E-0C11-4E43-9C1B-6C5E6B0C2A10",
        ...                      "6f2b1a6e-0c11-4e43-9c1b-6c5e6b0c2a10", CheckedGuid)
        >>> carried, type(carried).__name__
        ('6F2B1A6E-0C11-4E43-9C1B-6C5E6B0C2A10', 'CheckedGuid')
    """
    marked: type[Any] = kind if isinstance(kind, type) else kind(checked)
    if type(value) is marked:
        return value
    if issubclass(marked, int):
        return marked(checked)
    if isinstance(value, str) and str.lower(value) == str.lower(checked):
        return marked(value)
    return value


def carry(check: Callable[[Any, str], Any], kind: Kind) -> Callable[[Any, str], Any]:
    """The check of an input type whose values are carried as checked: ``check(value, field)``
    runs, and the value is passed on in its checked type ``kind`` (:func:`as_checked`), so no
    later check on its way to the request examines it again.

    Example:
        >>> carried = carry(check_alert_id, CheckedAlertId)("da637_1", "alert_id")
        >>> carried, type(carried).__name__
        ('da637_1', 'CheckedAlertId')
    """

    def carried(value: Any, field: str) -> Any:
        return as_checked(value, check(value, field), kind)

    carried.__name__ = carried.__qualname__ = f"carry_{check.__name__.removeprefix('check_')}"
    carried.__doc__ = f"``value`` checked by ``{check.__name__}`` and carried as checked."
    return carried


def check_hash(
    value: Any, field: str = "hash", kinds: Iterable[str] = ("sha1", "sha256", "md5")
) -> str:
    """A file hash of one of ``kinds`` (by length), lower-case."""
    text = _text(value, field)
    allowed = {HASH_LENGTHS[k]: k for k in kinds}
    if not _HEX.match(text) or len(text) not in allowed:
        names = "/".join(k.upper() for k in kinds)
        raise _fail(
            field,
            f"{text[:80]!r} is not a {names} hash (hexadecimal of length "
            f"{'/'.join(str(HASH_LENGTHS[k]) for k in kinds)})",
        )
    return text.lower()


def check_sha1(value: Any, field: str = "sha1") -> str:
    """A SHA-1 hash."""
    return check_hash(value, field, ("sha1",))


def check_sha256(value: Any, field: str = "sha256") -> str:
    """A SHA-256 hash."""
    return check_hash(value, field, ("sha256",))


def check_ip(value: Any, field: str = "ip") -> str:
    """An IPv4 or IPv6 address (no CIDR ranges: Defender indicators do not take them)."""
    text = _text(value, field)
    if "%" in text:  # an IPv6 zone index (fe80::1%eth0) names a local interface, not a host
        raise _fail(field, f"{text[:60]!r}: an IP address with a zone index is not allowed")
    try:
        if not text.isascii():
            raise ValueError(text)
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise _fail(field, f"{text[:60]!r} is not an IPv4 or IPv6 address") from None


def check_domain(value: Any, field: str = "domain") -> str:
    """A DNS domain name (IDNA-encoded, no scheme, no path), lower-case."""
    text = _text(value, field).rstrip(".")
    try:
        ascii_name = text.encode("idna").decode("ascii") if text else ""
    except UnicodeError:
        raise _fail(field, f"{text[:80]!r} is not a domain name") from None
    labels = ascii_name.split(".")
    if len(ascii_name) > 253 or len(labels) < 2 or not all(_LABEL.match(x) for x in labels):
        raise _fail(field, f"{text[:80]!r} is not a domain name such as 'example.com'")
    if labels[-1].isdigit():
        raise _fail(field, f"{text[:80]!r} looks like an IP address, not a domain name")
    return ascii_name.lower()


def check_url(value: Any, field: str = "url") -> str:
    """An absolute http(s) URL with a host."""
    text = _text(value, field)
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname or _CONTROL.search(text):
        raise _fail(field, f"{text[:80]!r} is not an absolute http(s) URL")
    if any(c.isspace() for c in text):
        raise _fail(field, "a URL must not contain whitespace")
    return text


class CheckedIncidentId(int):
    """An XDR incident id that passed :func:`check_incident_id`.

    A parameter of the ``IncidentId`` or ``IncidentRef`` input type is carried as one from the
    playbook's or task's entry to the request, and no check on its way examines it again:
    :func:`check_incident_id` returns it as it is.

    Example:
        >>> iid = carry(check_incident_id, CheckedIncidentId)(" 1001 ", "incident_id")
        >>> iid, type(iid).__name__, check_incident_id(iid) is iid
        (1001, 'CheckedIncidentId', True)
    """

    __slots__ = ()


def check_incident_id(value: Any, field: str = "incident_id") -> int:
    """An XDR incident id: a positive integer (strings of ASCII digits accepted); one given as a
    :class:`CheckedIncidentId` is returned as it is."""
    if type(value) is CheckedIncidentId:
        return value
    if isinstance(value, bool):
        raise _fail(field, "expected a positive integer")
    if isinstance(value, str) and ascii_digits(value.strip()):
        value = int(value.strip())
    if not isinstance(value, int) or value <= 0:
        raise _fail(field, f"{str(value)[:40]!r} is not an incident id (a positive integer)")
    return value


class CheckedAlertId(str):
    """A Defender alert id that passed :func:`check_alert_id`; a parameter of the ``AlertId``
    input type is carried as one from its entry to the request, and :func:`check_alert_id`
    returns it as it is.

    Example:
        >>> aid = carry(check_alert_id, CheckedAlertId)("da637_1", "alert_id")
        >>> type(aid).__name__, check_alert_id(aid) is aid
        ('CheckedAlertId', True)
    """

    __slots__ = ()


def check_alert_id(value: Any, field: str = "alert_id") -> str:
    """A Defender alert id (letters, digits, ``_ - . :``); one given as a
    :class:`CheckedAlertId` is returned as it is."""
    if type(value) is CheckedAlertId:
        return value
    text = _text(value, field)
    if not _ALERT_ID.match(text) or not text.strip("."):  # "." and ".." are path segments
        raise _fail(field, f"{text[:60]!r} is not an alert id")
    return text


def check_sam_name(value: Any, field: str = "user") -> str:
    """An account's SAM name (``jdoe``), which the user endpoints want instead of a UPN."""
    text = _text(value, field)
    if "@" in text:
        raise _fail(
            field,
            f"{text[:80]!r} looks like a UPN; the user endpoints take the account "
            "name (sAMAccountName, e.g. 'jdoe'), not the user principal name",
        )
    if "\\" in text:
        text = text.split("\\", 1)[1]
    if not _SAM.match(text):
        raise _fail(field, f"{text[:80]!r} is not an account name")
    return text


class CheckedUpn(str):
    """A user principal name that passed :func:`check_upn`; a parameter of the ``Upn`` or
    ``UserRef`` input type is carried as one from its entry to the request, and
    :func:`check_upn` and :func:`check_user_ref` return it as it is. A user given by object id
    is carried as a :class:`CheckedGuid` (:func:`user_ref_kind`).

    Example:
        >>> upn = carry(check_user_ref, user_ref_kind)("JDoe@Contoso.com", "user")
        >>> type(upn).__name__, check_user_ref(upn) is upn
        ('CheckedUpn', True)
    """

    __slots__ = ()


def check_upn(value: Any, field: str = "user") -> str:
    """A user principal name (``jdoe@contoso.com``): one ``@``, a dotted domain, no spaces; one
    given as a :class:`CheckedUpn` is returned as it is."""
    if type(value) is CheckedUpn:
        return value
    text = _text(value, field)
    if not _UPN.match(text) or ".." in text or text.startswith(".") or ".@" in text:
        raise _fail(field, f"{text[:80]!r} is not a user principal name (name@domain.tld)")
    return text


def user_ref_kind(checked: str) -> type[Any]:
    """The checked type of a user reference: :class:`CheckedUpn` or :class:`CheckedGuid`.

    Example:
        >>> user_ref_kind("jdoe@contoso.com").__name__
        'CheckedUpn'
    """
    return CheckedUpn if "@" in checked else CheckedGuid


def check_user_ref(value: Any, field: str = "user", *, upn: bool = True) -> str:
    """An Entra ID user: its object id (GUID) or, where the endpoint accepts one, its UPN.

    Examples:
        >>> check_user_ref("JDoe@Contoso.com")
        'JDoe@Contoso.com'
        >>> check_user_ref("8b1c2c2e-6f8a-4b0e-9d4e-2b7c1f3a9e10", upn=False)
        '8b1c2c2e-6f8a-4b0e-9d4e-2b7c1f3a9e10'

    A user checked before (a :class:`CheckedUpn` or :class:`CheckedGuid`) is not checked again;
    a UPN is still refused where the endpoint takes object ids only.
    """
    if type(value) is CheckedGuid:
        return _lower(value)
    text = value if type(value) is CheckedUpn else _text(value, field)
    if "@" in text:
        if not upn:
            raise _fail(
                field,
                f"{text[:80]!r} is a user principal name; this endpoint takes the user's object "
                "id (a GUID)",
            )
        return check_upn(text, field)
    try:
        return check_guid(text, field)
    except ValidationError:
        what = "an object id (GUID) or a user principal name" if upn else "an object id (GUID)"
        raise _fail(field, f"{text[:80]!r} is not {what}") from None


def check_opaque_id(value: Any, field: str = "id") -> str:
    """An identifier Microsoft hands out in its own form (letters, digits, ``-_.``)."""
    text = _text(value, field)
    if not _OPAQUE_ID.match(text):
        raise _fail(field, f"{text[:80]!r} is not an identifier (letters, digits, '-', '_', '.')")
    return text


def _annotated(check: Callable[[Any, str], Any]) -> Any:
    return AfterValidator(lambda v: check(v, "value"))


def _keep_checked(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    return value if type(value) is CheckedMachineId else handler(value)


GuidStr = Annotated[str, _annotated(check_guid)]
MachineIdStr = Annotated[str, _annotated(check_machine_id)]
#: a model's ``str`` field that keeps a :class:`CheckedMachineId` as it is (pydantic would copy
#: it to a plain ``str``); any other value is validated as a ``str``, unchecked
CarriedMachineId = Annotated[str, WrapValidator(_keep_checked)]
Sha1Str = Annotated[str, _annotated(check_sha1)]
Sha256Str = Annotated[str, _annotated(check_sha256)]
FileHashStr = Annotated[str, _annotated(check_hash)]
IpStr = Annotated[str, _annotated(check_ip)]
DomainStr = Annotated[str, _annotated(check_domain)]
UrlStr = Annotated[str, _annotated(check_url)]
CommentStr = Annotated[str, _annotated(check_comment)]

__all__ += [
    "CarriedMachineId",
    "CommentStr",
    "DomainStr",
    "FileHashStr",
    "GuidStr",
    "IpStr",
    "MachineIdStr",
    "Sha1Str",
    "Sha256Str",
    "UrlStr",
    "check_alert_id",
    "check_sam_name",
]


def check_machine_ids(values: Iterable[Any] | None, field: str = "machine_ids") -> list[str]:
    """Every id of a machine list checked before anything is requested (lower-cased)."""
    if values is None:
        return []
    if isinstance(values, str) or not isinstance(values, Iterable):
        raise ValidationError(f"{field}: expected a list of machine ids", field=field)
    return [check_machine_id(value, f"{field}[{i}]") for i, value in enumerate(values)]


__all__ += ["check_machine_ids"]
