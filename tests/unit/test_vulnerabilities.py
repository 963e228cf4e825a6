"""Vulnerability management below the network: ids, models and the documented maxima."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from prefect_defender.api.errors import ValidationError
from prefect_defender.api.models.vulnerabilities import Vulnerability
from prefect_defender.api.resources.vulnerabilities import (
    MAX_TOP,
    check_software_id,
    check_vulnerability_id,
)
from prefect_defender.emulator.routes import vulnerabilities as emu


def test_documented_maxima_agree_with_the_emulator() -> None:
    assert MAX_TOP["mde.tvm.vulnerabilities"] == emu.MAX_TOP_VULNERABILITIES == 8_000
    assert MAX_TOP["mde.tvm.software"] == emu.MAX_TOP_SOFTWARE == 10_000
    assert MAX_TOP["mde.tvm.recommendations"] == emu.MAX_TOP_RECOMMENDATIONS == 10_000


@given(year=st.integers(1999, 2099), n=st.integers(1, 9_999_999))
def test_cve_ids(year: int, n: int) -> None:
    assert check_vulnerability_id(f"cve-{year}-{n:04d}") == f"CVE-{year}-{n:04d}"


@pytest.mark.parametrize("bad", ["", "CVE-24-1", "CVE-2024-1", "CVE-2024-12a4", "../x", 7])
def test_bad_vulnerability_ids(bad: object) -> None:
    with pytest.raises(ValidationError):
        check_vulnerability_id(bad)


def test_software_ids() -> None:
    assert check_software_id("microsoft-_-edge") == "microsoft-_-edge"
    assert check_software_id("notepad-plus-plus-_-notepad++") == "notepad-plus-plus-_-notepad++"
    for bad in ("edge", "a-_-b/c", "a-_-b c", "-_-x", ""):
        with pytest.raises(ValidationError):
            check_software_id(bad)


def test_vulnerability_model_reads_both_cve_supportability_spellings() -> None:
    a = Vulnerability.model_validate({"id": "CVE-1", "CveSupportability": "supported"})
    b = Vulnerability.model_validate({"id": "CVE-1", "cveSupportability": "supported"})
    assert a.cve_supportability == b.cve_supportability == "supported"
    assert Vulnerability.model_validate({"id": "CVE-1", "cvssV3": 4.3}).cvss_v3 == 4.3
