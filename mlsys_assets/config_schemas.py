"""A resource's Dagster config schema is inferred once per class, not on every construction.

Dagster (1.13) infers a ``ConfigurableResource``'s config schema from its pydantic fields in
``__init__``, every time one is built, and a sensor tick builds its resources again, several
times each (bound, configured, with the tick's context). ``RunSettings`` (eight sections, about
sixty fields) takes 13.5 ms per construction; with the loop's sensors ticking every second the
code server spent about a quarter of a core inferring the same schemas (py-spy of a demo).

The schema is a function of the class and of the fields left out (those holding other
resources): ``install()`` caches it per ``(class, fields left out)``. The ``Field`` it returns is
never changed by Dagster (``copy_with_default`` makes a new one). Calls with a description or a
default (nested sections inside a schema being inferred) are passed through. ``install()`` is
called where the code server and run workers load mlsys (``definitions.py``) and changes nothing
if Dagster no longer has the function; ``tests/unit/test_config_schemas.py`` pins the result
against Dagster's own.
"""

from __future__ import annotations

import functools
from typing import Any

from dagster._config.pythonic_config import config as _config
from dagster._config.pythonic_config import resource as _resource

_INFER = getattr(_config, "infer_schema_from_config_class", None)


@functools.lru_cache(maxsize=256)
def _inferred(model_cls: type, omitted: frozenset[str]) -> Any:  # noqa: ANN401 - Dagster's Field
    assert _INFER is not None
    return _INFER(model_cls, fields_to_omit=set(omitted))


def infer_schema_from_config_class(
    model_cls: type,
    description: str | None = None,
    fields_to_omit: set[str] | None = None,
    default: Any | None = None,  # noqa: ANN401 - as Dagster's
) -> Any:  # noqa: ANN401 - Dagster's Field
    """Dagster's function, cached when it is a function of the class alone."""
    assert _INFER is not None
    if description is not None or default is not None:
        return _INFER(model_cls, description, fields_to_omit, default)
    return _inferred(model_cls, frozenset(fields_to_omit or ()))


def install() -> None:
    """Route Dagster's resource construction through the cache (idempotent)."""
    if _INFER is None or getattr(_resource, "infer_schema_from_config_class", None) is not _INFER:
        return
    _resource.infer_schema_from_config_class = infer_schema_from_config_class
