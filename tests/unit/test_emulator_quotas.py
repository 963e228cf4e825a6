"""The emulator's own reading of the rate-limit sentences of Microsoft's pages."""

from __future__ import annotations

from prefect_defender.emulator.state import RATE_LIMITS, page_quota


def test_page_quota_reads_a_sentence_as_the_page_writes_it() -> None:
    assert page_quota("30 calls per minute and 1,500 calls per hour") == (
        (30, 60.0),
        (1500, 3600.0),
    )
    assert page_quota("Up to 45 calls per minute, and up to 1,500 calls per hour") == (
        (45, 60.0),
        (1500, 3600.0),
    )
    assert page_quota("50 calls per hour") == ((50, 3600.0),)
    assert page_quota("150 requests per minute") == ((150, 60.0),)


def test_each_family_has_its_pages_quota() -> None:
    # numbers as the pages state them (see emulator/state.py for the page of each family)
    assert RATE_LIMITS == {
        "mde": ((100, 60.0), (1500, 3600.0)),
        "xdr_incidents": ((50, 60.0), (1500, 3600.0)),
        "hunting": ((45, 60.0), (1500, 3600.0)),
        "live_response": ((10, 60.0),),
        "package_uri": ((2, 60.0), (120, 3600.0)),
        "alerts_batch": ((10, 60.0), (500, 3600.0)),
        "create_alert": ((15, 60.0),),
        "indicators_import": ((30, 60.0),),
        "indicators_batch_delete": ((30, 60.0), (1500, 3600.0)),
        "investigation_start": ((50, 3600.0),),
        "machine_vulnerabilities": ((50, 60.0), (1500, 3600.0)),
        "graph_security": ((150, 60.0),),
    }
