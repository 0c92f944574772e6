"""The backtest's report: the side-by-side table, the summer verdict, CSV files and a PNG plot."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, never a window
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from mlsys_assets.backtest.engine import BacktestResult, monthly_table  # noqa: E402
from mlsys_assets.backtest.frame import DAY  # noqa: E402
from mlsys_assets.monitoring.reference import LABEL  # noqa: E402
from mlsys_assets.training import metrics  # noqa: E402

SUMMER = ("06", "07", "08")
COLORS = {"never": "#7f7f7f", "monthly": "#1f77b4", "drift": "#d62728", "volume": "#2ca02c"}


def side_by_side(monthly: pd.DataFrame) -> pd.DataFrame:
    """Months as rows, each policy's live ROC AUC and retrains as columns."""
    auc = monthly.pivot(index="month", columns="policy", values="roc_auc")
    retrains = monthly.pivot(index="month", columns="policy", values="retrains")
    policies = list(dict.fromkeys(monthly["policy"]))
    out = pd.DataFrame(index=auc.index)
    for policy in policies:
        out[f"{policy} auc"] = auc[policy]
        out[f"{policy} retrains"] = retrains[policy].astype(int)
    return out


def format_table(result: BacktestResult, monthly: pd.DataFrame) -> str:
    """The table printed by ``mlsys backtest``: live ROC AUC per month, retrains, totals."""
    policies = list(result.runs)
    width = 17
    lines = [f"{'month':<9}" + "".join(f"{p:>{width}}" for p in policies)]
    lines.append(f"{'':<9}" + "".join(f"{'auc (retrains)':>{width}}" for _ in policies))
    table = side_by_side(monthly)
    for month, row in table.iterrows():
        cells = [f"{row[f'{p} auc']:.4f} ({int(row[f'{p} retrains'])})" for p in policies]
        lines.append(f"{month:<9}" + "".join(f"{c:>{width}}" for c in cells))
    overall = [_pooled_auc(result, p) for p in policies]
    lines.append(f"{'all':<9}" + "".join(f"{a:>{width}.4f}" for a in overall))
    counts = [str(result.runs[p].retrain_count) for p in policies]
    lines.append(f"{'retrains':<9}" + "".join(f"{c:>{width}}" for c in counts))
    return "\n".join(lines)


def _pooled_auc(result: BacktestResult, policy: str, months: tuple[str, ...] = ()) -> float:
    part = result.scored[result.scored["policy"] == policy]
    if months:
        month = pd.to_datetime(part[DAY]).dt.strftime("%m")
        part = part[month.isin(months).to_numpy()]
    if part.empty:
        return float("nan")
    return metrics.score(part[LABEL].to_numpy(), part["score"].to_numpy())["roc_auc"]


@dataclass(frozen=True)
class Verdict:
    """Is ``challenger`` at least as good as ``baseline`` in the summer months?"""

    months: dict[str, tuple[float, float]]  # month -> (challenger, baseline) AUC
    pooled: tuple[float, float]
    holds: bool | None  # None: the period has no summer month or a policy is missing

    def describe(self, challenger: str = "drift", baseline: str = "never") -> str:
        if self.holds is None:
            return "summer verdict: not applicable (no summer month, or a policy not run)"
        parts = [f"{m}: {c:.4f} vs {b:.4f} ({c - b:+.4f})" for m, (c, b) in self.months.items()]
        if self.holds:
            outcome = f"{challenger} is at least as good as {baseline} in every summer month"
        else:
            outcome = f"{challenger} is WORSE than {baseline} in at least one summer month"
        return (
            f"summer (Jun-Aug) live ROC AUC, {challenger} vs {baseline}: {'; '.join(parts)}; "
            f"pooled {self.pooled[0]:.4f} vs {self.pooled[1]:.4f} -> {outcome}"
        )


def summer_verdict(
    result: BacktestResult, challenger: str = "drift", baseline: str = "never"
) -> Verdict:
    """Per summer month (and pooled): the challenger's live AUC against the baseline's."""
    monthly = monthly_table(result)
    if challenger not in result.runs or baseline not in result.runs:
        return Verdict({}, (float("nan"), float("nan")), None)
    table = side_by_side(monthly)
    months = {
        m: (float(row[f"{challenger} auc"]), float(row[f"{baseline} auc"]))
        for m, row in table.iterrows()
        if str(m)[5:7] in SUMMER
    }
    if not months:
        return Verdict({}, (float("nan"), float("nan")), None)
    pooled = (
        _pooled_auc(result, challenger, SUMMER),
        _pooled_auc(result, baseline, SUMMER),
    )
    return Verdict(months, pooled, all(c >= b for c, b in months.values()))


def retrains_table(result: BacktestResult) -> pd.DataFrame:
    """Every (re)training of every policy: when it served from, its data day, why."""
    rows = []
    for run in result.runs.values():
        for r in run.retrains:
            model = result.models.get(r.data_day)
            rows.append(
                {
                    "policy": r.policy,
                    "serves_from": r.serves_from,
                    "data_day": r.data_day,
                    "reason": r.reason,
                    "signal": r.signal,
                    "train_window": str(model.windows.train) if model else "",
                    "training_rows": model.rows if model else None,
                    "test_roc_auc": model.test_roc_auc if model else None,
                }
            )
    return pd.DataFrame(rows)


def drift_checks_table(result: BacktestResult) -> pd.DataFrame:
    """The drift policy's daily look at the drift share, and its decision."""
    rows = [
        {"policy": run.policy, **check.__dict__}
        for run in result.runs.values()
        for check in run.checks
    ]
    return pd.DataFrame(rows)


def plot(result: BacktestResult, monthly: pd.DataFrame, path: Path) -> Path:
    """Live ROC AUC per month per policy (top) and each policy's retrains (bottom)."""
    policies = list(result.runs)
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(10, 6), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    for policy in policies:
        part = monthly[monthly["policy"] == policy]
        x = pd.to_datetime(part["month"] + "-15")
        color = COLORS.get(policy)
        top.plot(x, part["roc_auc"], marker="o", label=policy, color=color)
    top.set_ylabel("live ROC AUC (month)")
    top.set_title("Retraining policies: live ROC AUC per month")
    top.grid(alpha=0.3)
    top.legend()
    for i, policy in enumerate(policies):
        days = [r.serves_from for r in result.runs[policy].retrains if r.reason != "initial"]
        bottom.scatter(
            pd.to_datetime(days), [i] * len(days), marker="|", s=200, color=COLORS.get(policy)
        )
    bottom.set_yticks(range(len(policies)), policies)
    bottom.set_ylim(-0.5, len(policies) - 0.5)
    bottom.set_ylabel("retrains")
    bottom.grid(alpha=0.3, axis="x")
    fig.autofmt_xdate()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_reports(result: BacktestResult, out_dir: Path) -> dict[str, Path]:
    """Save the monthly and daily tables, the retrains and drift checks (CSV) and the plot."""
    out_dir.mkdir(parents=True, exist_ok=True)
    monthly = monthly_table(result)
    paths = {
        "monthly": out_dir / "backtest_monthly.csv",
        "daily": out_dir / "backtest_daily.csv",
        "retrains": out_dir / "backtest_retrains.csv",
        "drift_checks": out_dir / "backtest_drift_checks.csv",
        "plot": out_dir / "backtest.png",
    }
    monthly.to_csv(paths["monthly"], index=False)
    result.daily.to_csv(paths["daily"], index=False)
    retrains_table(result).to_csv(paths["retrains"], index=False)
    drift_checks_table(result).to_csv(paths["drift_checks"], index=False)
    plot(result, monthly, paths["plot"])
    return paths
