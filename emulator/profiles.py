"""Named fault profiles for the reliability suite (``{"profile": "<name>"}`` in the config).

Rates are per API request; resets and slow answers are split between before and after the
handler ran, so a client sees both "never arrived" and "applied but the answer was lost".
"""

from __future__ import annotations

from typing import Any

#: the faults the emulator injects, in the order their probabilities are stacked
FAULT_KINDS = (
    "rate_429",
    "rate_429_no_retry_after",
    "rate_500",
    "rate_502",
    "rate_503",
    "reset_before",
    "reset_after",
    "slow",
)

__all__ = ["PROFILES", "apply_profile"]

PROFILES: dict[str, dict[str, Any]] = {
    # the bulk-under-faults profile of the reliability issue
    "bulk-chaos": {
        "faults": {
            "rate_429": 0.05,
            "rate_429_no_retry_after": 0.05,
            "rate_500": 0.02,
            "rate_502": 0.015,
            "rate_503": 0.015,
            "reset_before": 0.01,
            "reset_after": 0.01,
        },
        "token_expiry_every_seconds": 60,
    },
    "flaky-network": {
        "faults": {"reset_before": 0.05, "reset_after": 0.05, "slow": 0.02, "slow_seconds": 5},
    },
    "throttled": {"faults": {"rate_429": 0.3}},
    "stuck-actions": {"action_stuck_rate": 1.0},
    "timeout-actions": {"action_timeout_rate": 1.0},
    "calm": {
        "faults": {k: 0.0 for k in FAULT_KINDS},
        "token_expiry_every_seconds": 0,
        "action_stuck_rate": 0.0,
        "action_timeout_rate": 0.0,
        "action_failure_rate": 0.0,
    },
}


def apply_profile(config: dict[str, Any]) -> dict[str, Any]:
    """``config`` with its ``profile`` expanded (explicit keys win)."""
    name = config.get("profile")
    if not name:
        return config
    if name not in PROFILES:
        raise ValueError(f"unknown fault profile {name!r}; known: {', '.join(PROFILES)}")
    base = PROFILES[name]
    merged = {**base, **{k: v for k, v in config.items() if k != "profile"}}
    merged["faults"] = {**base.get("faults", {}), **config.get("faults", {})}
    return merged
