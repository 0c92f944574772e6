"""A wrong setting is one line: the environment variable, what was given, what is allowed.

Pydantic's error names the field (``canary_share``) in a 30-60 line traceback; the person who
set ``MLSYS_LOOP__CANARY_SHARE`` needs the variable's name and the allowed values. A secret
setting's value is never repeated (see ``secrets.py``).
"""

from __future__ import annotations

import difflib
import re
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from pydantic import SecretStr, ValidationError
from pydantic.fields import FieldInfo

ENV_PREFIX = "MLSYS_"


class ConfigurationError(ValueError):
    """A setting is unusable; the message is one line meant for the person who set it."""


def env_name(*path: str) -> str:
    """The variable of a setting: ``("loop", "canary_share")`` -> ``MLSYS_LOOP__CANARY_SHARE``."""
    return ENV_PREFIX + "__".join(path).upper()


def _field_at(
    fields: dict[str, FieldInfo], loc: tuple[Any, ...]
) -> tuple[list[str], FieldInfo | None]:
    """The setting a validation error points at: its path of names, and its field (a section's
    field for ``("loop", "canary_share")``; pydantic appends list indexes, which are dropped)."""
    path: list[str] = []
    info: FieldInfo | None = None
    for part in loc:
        if not isinstance(part, str) or part not in fields:
            break
        path.append(part)
        info = fields[part]
        nested = getattr(info.annotation, "model_fields", None)
        fields = nested if isinstance(nested, dict) else {}
    return path or [str(loc[0])], info


def _is_secret(info: FieldInfo | None) -> bool:
    if info is None:
        return False
    annotation = info.annotation
    return annotation is SecretStr or SecretStr in get_args(annotation)


def allowed_values(info: FieldInfo) -> str | None:
    """What the field accepts, in words: a choice, a range, or a type."""
    annotation = info.annotation
    choices = [a for a in get_args(annotation) if get_origin(a) is Literal] or (
        [annotation] if get_origin(annotation) is Literal else []
    )
    if choices:
        return "one of " + ", ".join(str(v) for v in get_args(choices[0]))
    bounds = []
    for constraint in info.metadata:
        for attr, word in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
            value = getattr(constraint, attr, None)
            if value is not None:
                bounds.append(f"{word} {value}")
    if bounds:
        kind = {float: "number", int: "whole number"}.get(annotation, "value")  # type: ignore[call-overload]
        return f"a {kind} {' and '.join(bounds)}"
    return None


def _given(info: FieldInfo | None, value: Any) -> str:
    if _is_secret(info):
        return "(secret, not shown)"
    return value if isinstance(value, str) and len(value) < 80 else "(the value given)"


def explain(exc: ValidationError, fields: dict[str, FieldInfo]) -> ConfigurationError:
    """One line naming each failing variable and its allowed values, no secret repeated."""
    problems = []
    for error in exc.errors(include_url=False):
        loc = error.get("loc") or ()
        if not loc:  # a model validator (e.g. the prod profile's needs): its own words
            problems.append(str(error["msg"]).removeprefix("Value error, "))
            continue
        path, info = _field_at(fields, tuple(loc))
        message = f"{env_name(*path)}={_given(info, error.get('input'))} is invalid"
        allowed = allowed_values(info) if info is not None else None
        reason = str(error["msg"]).replace("Input should be", "should be")
        problems.append(f"{message}: {reason}" + (f" (allowed: {allowed})" if allowed else ""))
    return ConfigurationError("; ".join(problems))


def explain_parse_error(exc: Exception) -> ConfigurationError:
    """pydantic-settings' error for a value it cannot decode (JSON of a list setting)."""
    match = re.search(r'field "(\w+)"', str(exc))
    name = env_name(match.group(1)) + "__*" if match else "an MLSYS_ variable"
    return ConfigurationError(f"{name} cannot be parsed: it must be JSON (e.g. a list)")


def check_home(home: Path) -> None:
    """MLSYS_HOME must be a directory mlsys can write: created if missing, then probed.

    Probing by writing (not ``os.access``) also catches read-only filesystems and root, for
    whom ``os.access`` says yes to everything.
    """
    path = home.expanduser()
    if path.exists() and not path.is_dir():
        raise ConfigurationError(
            f"MLSYS_HOME={home} is a file, not a directory: point MLSYS_HOME at a directory"
        )
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        reason = exc.strerror or exc.__class__.__name__
        raise ConfigurationError(
            f"MLSYS_HOME={home} is not a writable directory ({reason}): "
            "point MLSYS_HOME at a directory you may write"
        ) from None


def unknown_section_names(
    names: Iterable[str], sections: Mapping[str, Iterable[str]]
) -> str | None:
    """The first ``MLSYS_<SECTION>__<NAME>`` in ``names`` that names no setting, explained.

    pydantic-settings drops such a variable without a word (``extra="ignore"``, which the flat
    names of other tools need), so a misspelt ``MLSYS_SERVING__LOG_FLUSH_ROW`` left the default
    in force while its author believed otherwise. Only names with the nested delimiter are
    judged: those can only be meant for a section. The message suggests the closest name.
    """
    for name in sorted(names):
        upper = name.upper()
        if not upper.startswith(ENV_PREFIX) or "__" not in upper:
            continue
        section, _, field = upper.removeprefix(ENV_PREFIX).lower().partition("__")
        if section in sections:
            fields = list(sections[section])
            if field in fields:
                continue
            close = difflib.get_close_matches(field, fields, n=1, cutoff=0.6)
            hint = f"; did you mean {env_name(section, close[0])}?" if close else ""
            return f"unknown setting {name}: section {section} has no setting {field}{hint}"
        close = difflib.get_close_matches(section, list(sections), n=1, cutoff=0.6)
        hint = f"; did you mean {env_name(close[0], field)}?" if close else ""
        return f"unknown setting {name}: no section {section} ({', '.join(sections)}){hint}"
    return None
