"""A value checked on entry is carried in its checked type, and no later check examines it again.

Each test takes the check's own machinery away after the entry check (the GUID parser, the
alert id and UPN patterns): a later check that ran again would fail. The playbooks' walks are
guarded end to end in tests/flows/test_one_check_per_value.py.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from prefect_defender.api.errors import ValidationError
from prefect_defender.api.input_types import (
    AlertId,
    IncidentId,
    IncidentRef,
    TenantId,
    Upn,
    UserRef,
)
from prefect_defender.api.validation import (
    CheckedAlertId,
    CheckedGuid,
    CheckedIncidentId,
    CheckedUpn,
    as_checked,
    check_alert_id,
    check_guid,
    check_incident_id,
    check_upn,
    check_user_ref,
)
from prefect_defender.tasks.arguments import parameter_check

TENANT = "6F2B1A6E-0C11-4E43-9C1B-6C5E6B0C2A10"


def _unchecked(monkeypatch: Any, *names: str) -> None:
    """Take the checks' machinery away: any check that runs from now on fails."""
    for name in names:
        monkeypatch.setitem(check_guid.__globals__, name, None)


def test_a_tenant_id_is_carried_as_given_and_only_lower_cased_later(monkeypatch: Any) -> None:
    carried = parameter_check(TenantId | None)("tenant_id", TENANT)
    assert type(carried) is CheckedGuid and carried == TENANT  # as given, checked
    _unchecked(monkeypatch, "uuid")
    low = check_guid(carried, "tenant_id")
    assert type(low) is CheckedGuid and low == TENANT.lower()
    assert check_guid(low) is low and check_user_ref(low, upn=False) is low


def test_an_incident_id_is_carried_as_its_number() -> None:
    assert type(parameter_check(IncidentId)("incident_id", 1001)) is CheckedIncidentId
    from_form = parameter_check(IncidentRef | None)("incident_id", " 1001 ")
    assert type(from_form) is CheckedIncidentId and from_form == 1001
    assert check_incident_id(from_form) is from_form
    assert str(from_form) == "1001" and f"{from_form}" == "1001"
    assert parameter_check(IncidentRef | None)("incident_id", "") == ""  # not given, as before


def test_an_alert_id_and_a_user_are_carried_as_given(monkeypatch: Any) -> None:
    aid = parameter_check(AlertId | None)("alert_id", "da637_1")
    upn = parameter_check(Upn)("user", "JDoe@Contoso.com")
    users = parameter_check(list[UserRef])("users", ["JDoe@Contoso.com", TENANT])
    _unchecked(monkeypatch, "_ALERT_ID", "_UPN", "uuid")
    assert type(aid) is CheckedAlertId and check_alert_id(aid) is aid
    assert type(upn) is CheckedUpn and check_upn(upn) is upn and check_user_ref(upn) is upn
    assert [type(u) for u in users] == [CheckedUpn, CheckedGuid]
    assert users == ["JDoe@Contoso.com", TENANT]  # as given
    assert check_user_ref(users[1]) == TENANT.lower()
    # a UPN is still refused where an endpoint takes object ids only
    with pytest.raises(ValidationError, match="is a user principal name; this endpoint takes"):
        check_user_ref(upn, upn=False)


def test_a_value_with_spaces_is_passed_as_given_and_checked_where_it_is_used() -> None:
    spaced = parameter_check(AlertId)("alert_id", " da637_1 ")
    assert spaced == " da637_1 " and type(spaced) is str  # as before: free text keeps its spaces
    assert check_alert_id(spaced) == "da637_1"  # checked again where it is used, as before


def test_a_check_returns_what_it_returned_before_for_a_value_not_carried() -> None:
    # only a parameter's entry marks a value as checked: a check's result is plain, as before
    plain = [
        check_guid(TENANT),
        check_alert_id("da637_1"),
        check_upn("a@b.co"),
        check_incident_id(5),
    ]
    assert [type(v) for v in plain] == [str, str, str, int]


@pytest.mark.parametrize(
    ("annotation", "value", "message"),
    [
        (TenantId, "not-a-guid", "tenant_id: 'not-a-guid' is not a GUID"),
        (IncidentRef, "12a", "incident_id: '12a' is not an incident id"),
        (AlertId, "../x", "alert_id: '../x' is not an alert id"),
        (UserRef, "jdoe", "users: 'jdoe' is not an object id"),
        (Upn, "jdoe@", "user: 'jdoe@' is not a user principal name"),
    ],
)
def test_bad_values_are_refused_as_before(annotation: Any, value: str, message: str) -> None:
    field = message.split(":")[0]
    with pytest.raises(ValidationError, match=message):
        parameter_check(annotation)(field, value)


@given(st.uuids(), st.booleans())
def test_any_guid_in_either_case_is_carried_as_given(value: uuid.UUID, upper: bool) -> None:
    text = str(value).upper() if upper else str(value)
    carried = as_checked(text, check_guid(text), CheckedGuid)
    assert type(carried) is CheckedGuid and carried == text
    assert check_guid(carried) == str(value)
