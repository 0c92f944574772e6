"""The business-rule layer after the model: the registered threshold, then a short rule list.

The threshold registered with the model version turns a probability into a decision; the rules
(configured in settings, evaluated in order, first match wins) may then override it for known
business cases. Every answer names the rule that decided, so a decision is always traceable.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

THRESHOLD_RULE = "threshold"
BASELINE_RULE = "baseline_threshold"


class BusinessRule(BaseModel):
    """A rule: when every given condition holds, the flight's decision becomes ``delayed``.

    Conditions left out match anything. Example (as ``MLSYS_SERVING__RULES`` JSON):
    ``[{"name": "storm_jfk", "origins": ["JFK"], "min_probability": 0.3, "delayed": true}]``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=64)
    delayed: bool
    carriers: frozenset[str] | None = None
    origins: frozenset[str] | None = None
    dests: frozenset[str] | None = None
    min_probability: float | None = Field(default=None, ge=0.0, le=1.0)
    max_probability: float | None = Field(default=None, ge=0.0, le=1.0)

    def matches(self, probability: float, flight: Mapping[str, Any]) -> bool:
        if self.carriers is not None and flight.get("carrier") not in self.carriers:
            return False
        if self.origins is not None and flight.get("origin") not in self.origins:
            return False
        if self.dests is not None and flight.get("dest") not in self.dests:
            return False
        if self.min_probability is not None and probability < self.min_probability:
            return False
        return self.max_probability is None or probability <= self.max_probability


def parse_rules(raw: Iterable[Mapping[str, Any]]) -> tuple[BusinessRule, ...]:
    """Validate the configured rules (a bad rule stops the app at start, not at a request)."""
    rules = tuple(BusinessRule.model_validate(dict(item)) for item in raw)
    names = [rule.name for rule in rules]
    if len(set(names)) != len(names) or THRESHOLD_RULE in names:
        raise ValueError(f"rule names must be unique and not {THRESHOLD_RULE!r}: {names}")
    return rules


def decide(
    probability: float,
    threshold: float,
    flight: Mapping[str, Any],
    rules: Sequence[BusinessRule] = (),
    default_rule: str = THRESHOLD_RULE,
) -> tuple[bool, str]:
    """``(delayed, rule name)``: the threshold's decision unless a rule overrides it."""
    for rule in rules:
        if rule.matches(probability, flight):
            return rule.delayed, rule.name
    return probability >= threshold, default_rule
