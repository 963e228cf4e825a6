"""Where Sigma rules come from: files, folders and texts (:func:`load_rule_sources`), each checked
for size and count before anything is parsed; and the hunt's lookback (:func:`check_lookback`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prefect_defender.api.errors import ValidationError

__all__ = [
    "MAX_LOOKBACK_HOURS",
    "MAX_RULES",
    "MAX_RULE_BYTES",
    "RULE_SUFFIXES",
    "RuleSource",
    "check_lookback",
    "load_rule_sources",
]

#: at most this many rule files/texts per call (Advanced Hunting allows 45 queries a minute)
MAX_RULES = 500
#: at most this many bytes per rule file or text
MAX_RULE_BYTES = 256 * 1024
#: Advanced Hunting keeps 30 days
MAX_LOOKBACK_HOURS = 720
RULE_SUFFIXES = (".yml", ".yaml")


@dataclass(frozen=True)
class RuleSource:
    """Sigma YAML (one or more rules) and where it came from (a path or ``rule_texts[i]``)."""

    label: str
    text: str


def _check_text(text: Any, field: str) -> str:
    if not isinstance(text, str) or not text.strip():
        raise ValidationError(
            f"{field}: a non-empty Sigma rule (YAML text) is required", field=field
        )
    if len(text.encode("utf-8")) > MAX_RULE_BYTES:
        raise ValidationError(f"{field}: larger than {MAX_RULE_BYTES} bytes", field=field)
    return text


def _rule_files(path: Path, field: str) -> list[Path]:
    if path.is_dir():
        found = sorted(
            p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in RULE_SUFFIXES
        )
        if not found:
            raise ValidationError(f"{field}: no .yml/.yaml rule in folder {path}", field=field)
        return found
    if path.is_file():
        if path.suffix.lower() not in RULE_SUFFIXES:
            raise ValidationError(f"{field}: {path} is not a .yml/.yaml file", field=field)
        return [path]
    raise ValidationError(f"{field}: {path} does not exist", field=field)


def load_rule_sources(paths: Iterable[str] = (), texts: Iterable[str] = ()) -> list[RuleSource]:
    """Read rule files, folders (``*.yml``/``*.yaml``, recursively) and rule texts.

    Raises :class:`ValidationError` for a missing path, a folder without rules, an empty or
    oversized text, no input at all, or more than :data:`MAX_RULES` sources.

    Example:
        ```python
        from pathlib import Path

        extra = Path("examples/sigma/proc_certutil_download.yml").read_text()
        sources = load_rule_sources(["examples/sigma"], [extra])
        assert len(sources) == 6  # five files and one text
        ```
    """
    if isinstance(paths, str) or isinstance(texts, str):
        raise ValidationError("rule_paths and rule_texts: lists of strings", field="rule_paths")
    out: list[RuleSource] = []
    seen: set[Path] = set()
    for i, p in enumerate(paths):
        field = f"rule_paths[{i}]"
        if not isinstance(p, str) or not p.strip():
            raise ValidationError(f"{field}: a file or folder path is required", field=field)
        for f in _rule_files(Path(p).expanduser(), field):
            key = f.resolve()
            if key in seen:
                continue
            seen.add(key)
            if f.stat().st_size > MAX_RULE_BYTES:
                raise ValidationError(
                    f"{field}: {f} is larger than {MAX_RULE_BYTES} bytes", field=field
                )
            out.append(RuleSource(str(f), f.read_text(encoding="utf-8", errors="replace")))
    for i, t in enumerate(texts):
        out.append(RuleSource(f"rule_texts[{i}]", _check_text(t, f"rule_texts[{i}]")))
    if not out:
        raise ValidationError(
            "rule_paths/rule_texts: give at least one rule file, folder or rule text",
            field="rule_paths",
        )
    if len(out) > MAX_RULES:
        raise ValidationError(
            f"rule_paths/rule_texts: {len(out)} rule sources, at most {MAX_RULES} per run",
            field="rule_paths",
        )
    return out


def check_lookback(hours: Any, field: str = "lookback_hours") -> int:
    """Whole hours between 1 and 720 (Advanced Hunting keeps 30 days)."""
    if isinstance(hours, bool) or not isinstance(hours, int):
        raise ValidationError(f"{field}: whole hours, 1 to {MAX_LOOKBACK_HOURS}", field=field)
    if not 1 <= hours <= MAX_LOOKBACK_HOURS:
        raise ValidationError(
            f"{field}: between 1 and {MAX_LOOKBACK_HOURS} hours (30 days), got {hours}",
            field=field,
        )
    return hours
