"""Enrichment below the network: both documented spellings of the statistics, the SHA-1-only
and ``lookBackHours`` checks, and the enrichment result model."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from prefect_defender.api.errors import ValidationError
from prefect_defender.api.models.enrichment import EntityEnrichment, EntityStats, FileInfo
from prefect_defender.api.resources.enrichment import check_look_back, check_sha1_only
from prefect_defender.emulator.routes.enrichment import _ts

SHA1 = "356a192b7913b04c54574d18c28d46e6395428ab"


def test_stats_read_current_and_older_spellings() -> None:
    current = EntityStats.model_validate(
        {
            "sha1": SHA1,
            "organizationPrevalence": 14850,
            "orgFirstSeen": "2019-12-07T13:44:16Z",
            "globallyPrevalence": 705012,
            "globalFirstObserved": "2015-03-19T12:20:07.3432441Z",
            "topFileNames": ["MREC.exe"],
        }
    )
    older = EntityStats.model_validate(
        {"host": "example.com", "orgPrevalence": "4070", "globalPrevalence": "1,200"}
    )
    assert (current.organization_prevalence, current.global_prevalence) == (14850, 705012)
    assert (older.organization_prevalence, older.global_prevalence) == (4070, 1200)
    assert current.global_first_observed is not None and older.host == "example.com"
    out = current.to_api()
    assert out["organizationPrevalence"] == 14850 and out["globallyPrevalence"] == 705012


def test_file_info_keeps_unknown_fields() -> None:
    info = FileInfo.model_validate({"sha1": SHA1, "isPeFile": True, "newField": 1})
    assert info.is_pe_file and info.to_api()["newField"] == 1


@given(st.text("0123456789abcdef", min_size=64, max_size=64))
def test_sha1_only_names_a_sha256(value: str) -> None:
    with pytest.raises(ValidationError, match="given value is a SHA-256"):
        check_sha1_only(value)


def test_sha1_only() -> None:
    assert check_sha1_only(SHA1.upper()) == SHA1
    with pytest.raises(ValidationError, match="given value is a MD5"):
        check_sha1_only("c4ca4238a0b923820dcc509a6f75849b")
    with pytest.raises(ValidationError, match="SHA1"):
        check_sha1_only("xyz")


@pytest.mark.parametrize("hours", [0, -1, 721, 10_000, 1.5, "24", True])
def test_look_back_rejects(hours: object) -> None:
    with pytest.raises(ValidationError):
        check_look_back(hours)


def test_look_back_accepts_1_to_720() -> None:
    assert [check_look_back(h) for h in (1, 48, 720)] == [1, 48, 720]


def test_enrichment_result_helpers() -> None:
    e = EntityEnrichment.model_validate(
        {
            "kind": "domain",
            "value": "evil.example",
            "alerts": [{"id": "da1"}, {"id": "da2"}],
            "machines": [{"id": "m1", "computerDnsName": "ws-1"}, {"id": "m2"}],
            "errors": {"alerts": "403"},
        }
    )
    assert e.alert_ids == ["da1", "da2"] and e.machine_names == ["ws-1", "m2"]


def test_emulator_timestamps() -> None:
    assert _ts("2020-01-06T14:11:34Z").year == 2020
    assert _ts("2020-01-06T14:11:34.3432441Z").microsecond == 343244
    assert _ts("garbage").year == 1
