"""What a decision costs the business: one contract for the loop, monitoring and the demo.

A prediction becomes a decision (delayed or not) and the business pays for two kinds of error:
a *missed delay* (the flight was delayed and nobody was warned: rebooking, missed connections)
and a *false alarm* (a warning for a flight that left on time: needless re-planning). The units
are the user's (dollars, minutes, "cost points"); only their ratio moves a decision. Defaults:
a missed delay costs 5x a false alarm (`MLSYS_COST__MISSED_DELAY=50`, `MLSYS_COST__FALSE_ALARM=10`).

Two readings of the same model:
- **realised**, once labels land: the sum over flights of each error's cost;
- **estimated**, before labels: the expected cost under the served, calibrated probability
  (as CBPE estimates performance), p x missed for a "not delayed" answer and (1 - p) x false
  alarm for a "delayed" one.
For calibrated probabilities the threshold that minimises expected cost is
false_alarm / (false_alarm + missed_delay) (decide "delayed" when the expected cost of staying
silent, p x missed, exceeds that of warning, (1 - p) x false alarm).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CostModel:
    """The cost of each kind of error, in the user's units."""

    missed_delay: float = 50.0
    false_alarm: float = 10.0

    @classmethod
    def from_settings(cls, settings) -> CostModel:
        return cls(settings.cost.missed_delay, settings.cost.false_alarm)

    @property
    def optimal_threshold(self) -> float:
        """The decision threshold minimising expected cost for calibrated probabilities."""
        return self.false_alarm / (self.false_alarm + self.missed_delay)

    def realised(self, delayed, decision) -> np.ndarray:
        """Per-flight realised cost from the truth (0/1) and the decision (0/1)."""
        y = np.asarray(delayed, dtype=float)
        d = np.asarray(decision, dtype=float)
        return self.missed_delay * y * (1.0 - d) + self.false_alarm * (1.0 - y) * d

    def expected(self, probability, decision) -> np.ndarray:
        """Per-flight expected cost before labels, from the calibrated probability."""
        p = np.clip(np.asarray(probability, dtype=float), 0.0, 1.0)
        d = np.asarray(decision, dtype=float)
        return self.missed_delay * p * (1.0 - d) + self.false_alarm * (1.0 - p) * d

    def best_threshold(self, probability, delayed, grid: int = 99) -> float:
        """The threshold with the lowest realised cost on labelled data (e.g. validation)."""
        p = np.asarray(probability, dtype=float)
        y = np.asarray(delayed, dtype=float)
        thresholds = np.linspace(0.01, 0.99, grid)
        costs = [self.realised(y, p >= t).sum() for t in thresholds]
        return float(thresholds[int(np.argmin(costs))])
