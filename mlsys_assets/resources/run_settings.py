"""The settings a run uses, handed to assets and sensors as the ``run_settings`` resource.

Reading ``get_settings()`` inside an asset hid every knob from Dagster: the launchpad could not
show what a run would use, a run could not change one, and tests had to patch the environment.
This resource carries each layer's section (``settings.py``) as typed Dagster config: its
defaults are the process's settings (environment and ``.env``), the launchpad shows them under
``resources.run_settings.config``, and a run may override any of them::

    resources:
      run_settings:
        config:
          training: {search_trials: 5}

The defaults are the process's at every level (``from_settings`` derives the section classes
with the process's values as their defaults), so a run that overrides one field keeps every
other field as the process has it, not as the class declares it.

What is *not* here: ``home``, ``profile`` and the ``backends`` section (connection URLs, the
admin token, the alert webhook). They are the process's, fixed when the code location loads,
and they hold secrets that must never reach run config (``secrets.py``); the backends reach
assets as their own resources (warehouse, tracking, online store, ...).
"""

from __future__ import annotations

import copy
from typing import Any

import dagster as dg
import pydantic

from mlsys_assets.settings import LAYER_SECTIONS, SECTIONS, LayerSettings, Settings, get_settings


class RunSettings(dg.ConfigurableResource, LayerSettings):
    """Every layer's settings for this run (overridable in the launchpad), plus the seed."""

    @classmethod
    def from_settings(cls, settings: Settings) -> RunSettings:
        """The resource whose config defaults, at every level, are ``settings``'s values.

        Dagster fills a field the run config leaves out from its *class* default, so a run
        overriding ``training.search_trials`` alone would get every other training field back
        at its declared default, not the process's. Subclasses whose defaults are the process's
        values close that gap; the field types, constraints and validators are inherited.
        """
        sections = {
            name: _defaults_of(SECTIONS[name], getattr(settings, name)) for name in LAYER_SECTIONS
        }
        derived = pydantic.create_model(
            cls.__name__,
            __base__=cls,
            __module__=cls.__module__,
            __doc__=cls.__doc__,
            seed=(int, settings.seed),
            **{name: (section, section()) for name, section in sections.items()},
        )
        return derived()

    def resolve(self, base: Settings | None = None) -> Settings:
        """The complete settings of this run: ``base`` (default: this process's settings, read
        when the run worker loaded the code location) with this run's sections and seed."""
        base = base if base is not None else get_settings()
        return base.model_copy(
            update={"seed": self.seed, **{name: getattr(self, name) for name in LAYER_SECTIONS}}
        )


def _defaults_of(section: type[dg.Config], values: dg.Config) -> type[dg.Config]:
    """``section`` with ``values`` as its fields' defaults (descriptions and bounds kept)."""
    fields: dict[str, Any] = {}
    for name, info in section.model_fields.items():
        field = copy.copy(info)
        field.default, field.default_factory = copy.deepcopy(getattr(values, name)), None
        fields[name] = (info.annotation, field)
    return pydantic.create_model(
        section.__name__,
        __base__=section,
        __module__=section.__module__,
        __doc__=section.__doc__,
        **fields,
    )
