"""Known-bad pairings of a Prefect release with the server packages installed beside it.

prefect-defender supports ``prefect>=3.8.8,<4``. Its own requirements no longer pin FastAPI or
SQLAlchemy: Prefect 3.9.1 (what ``pip`` resolves today) pins FastAPI itself and runs with
SQLAlchemy 2.1. The older releases do not, and break in ways that are easy to miss (a schedule
that never creates a run), so the combinations measured broken are listed here, checked by the
``prefect-defender`` command line (a warning on standard error) and by the test suite, and
installed right by ``constraints/prefect-3.8.8.txt``.

Example:
    ```python
    from prefect_defender.prefect_compat import dependency_problems

    for problem in dependency_problems():
        print(problem)
    ```
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

__all__ = [
    "KNOWN_BREAKS",
    "Break",
    "dependency_problems",
    "installed_versions",
    "parse_version",
    "warn_about_dependencies",
]

Version = tuple[int, ...]


def parse_version(text: str) -> Version:
    """The leading release numbers of a version string (``"2.1.0rc1"`` -> ``(2, 1, 0)``)."""
    numbers: list[int] = []
    for part in text.strip().split("."):
        digits = re.match(r"\d+", part)
        if digits is None:
            break
        numbers.append(int(digits.group()))
        if digits.group() != part:
            break
    return tuple(numbers)


@dataclass(frozen=True)
class Break:
    """A package release line that breaks the Prefect server of releases below ``prefect_below``."""

    package: str
    broken_from: Version
    prefect_below: Version
    symptom: str
    fix: str


KNOWN_BREAKS: tuple[Break, ...] = (
    # Measured here: the server's scheduler with an interval schedule, SQLAlchemy 2.1.9:
    # prefect 3.8.8 and 3.9.0 created 0 runs and logged "Can't evaluate bulk DML statement";
    # prefect 3.9.1 created them (tests/compat/test_prefect_server.py runs the same check).
    Break(
        package="sqlalchemy",
        broken_from=(2, 1),
        prefect_below=(3, 9, 1),
        symptom="the Prefect server's scheduler fails (\"Can't evaluate bulk DML statement\"), "
        "so deployment schedules never create runs",
        fix="pip install 'sqlalchemy<2.1' (or prefect>=3.9.1)",
    ),
    # prefect 3.8.8 allows fastapi<1; from 0.151 its server answers 422 to request bodies with a
    # null `limit`/`sort`, which Prefect's own client sends. prefect 3.9.0 pins fastapi<0.151.
    Break(
        package="fastapi",
        broken_from=(0, 151),
        prefect_below=(3, 9, 0),
        symptom="the Prefect server answers 422 to its own client's requests "
        "(null limit/sort bodies)",
        fix="pip install 'fastapi<0.151' (or prefect>=3.9.0)",
    ),
)


def installed_versions(
    names: tuple[str, ...] = ("prefect", "sqlalchemy", "fastapi"),
) -> dict[str, str]:
    """The installed version of each of ``names`` (missing packages are left out)."""
    from importlib.metadata import PackageNotFoundError, version

    found: dict[str, str] = {}
    for name in names:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found


def dependency_problems(
    versions: Mapping[str, str] | None = None,
    breaks: tuple[Break, ...] = KNOWN_BREAKS,
) -> list[str]:
    """One sentence per known-bad pairing in ``versions`` (default: what is installed).

    Example:
        ```python
        dependency_problems({"prefect": "3.8.8", "sqlalchemy": "2.1.9"})
        # ["prefect 3.8.8 with sqlalchemy 2.1.9: the Prefect server's scheduler fails ..."]
        ```
    """
    found = dict(installed_versions() if versions is None else versions)
    prefect = found.get("prefect")
    if prefect is None:
        return []
    problems = []
    for known in breaks:
        other = found.get(known.package)
        if other is None:
            continue
        if parse_version(prefect) < known.prefect_below and (
            parse_version(other) >= known.broken_from
        ):
            problems.append(
                f"prefect {prefect} with {known.package} {other}: {known.symptom}; fix: {known.fix}"
            )
    return problems


def warn_about_dependencies(echo: Callable[[str], object]) -> None:
    """Tell ``echo`` (e.g. standard error) about every known-bad pairing installed."""
    for problem in dependency_problems():
        echo(f"warning: {problem}")
