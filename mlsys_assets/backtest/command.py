"""``mlsys backtest [--policy never|monthly|drift|volume ...] [--from --to] [--initial-months N] [--verdicts]``."""

from __future__ import annotations

import datetime as dt
import time
from typing import TYPE_CHECKING

import click

from mlsys_assets.nycflights import FIRST_DAY, LAST_DAY
from mlsys_assets.settings import Settings, get_settings

if TYPE_CHECKING:
    from mlsys_assets.backtest.engine import BacktestResult

_DAY = click.DateTime(formats=["%Y-%m-%d"])


@click.command()
@click.option(
    "--policy",
    "policies",
    type=click.Choice(["never", "monthly", "drift", "volume"]),
    multiple=True,
    help="Retraining policy to replay (repeatable; default: all four side by side).",
)
@click.option("--from", "start", type=_DAY, default=FIRST_DAY.isoformat(), show_default=True)
@click.option("--to", "end", type=_DAY, default=LAST_DAY.isoformat(), show_default=True)
@click.option(
    "--initial-months",
    type=click.IntRange(1, 11),
    default=3,
    show_default=True,
    help="Months the first model trains on before the walk starts.",
)
@click.option(
    "--step-days",
    type=click.IntRange(1, 31),
    default=1,
    show_default=True,
    help="Days per step of the walk (policies decide after each step; steps stop at month ends).",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 8),
    default=2,
    show_default=True,
    help="Processes fitting models while the walk measures drift (1: everything in process).",
)
@click.option(
    "--verdicts",
    is_flag=True,
    help="Also judge every challenger a policy trains by the paired canary verdict and by the "
    "earlier unpaired rule, against the truth of the next 30 days (last line: one JSON object).",
)
def backtest(
    policies: tuple[str, ...],
    start: dt.datetime,
    end: dt.datetime,
    initial_months: int,
    step_days: int,
    workers: int,
    verdicts: bool,
) -> None:
    """Replay the year under retraining policies, without HTTP: live AUC and retrains per month.

    Fills the warehouse (replay + ingestion, offline features) when the period is missing, and
    writes CSV files and a PNG plot under MLSYS_HOME/reports/backtest.
    """
    from mlsys_assets.backtest.engine import BacktestConfig, monthly_table, run_backtest
    from mlsys_assets.backtest.policies import POLICIES
    from mlsys_assets.backtest.report import format_table, summer_verdict, write_reports

    settings = get_settings()
    chosen = tuple(p for p in POLICIES if p in policies) if policies else POLICIES
    config = BacktestConfig(
        start=start.date(),
        end=end.date(),
        initial_months=initial_months,
        step_days=step_days,
        workers=workers,
        policies=chosen,  # type: ignore[arg-type]
    )
    began = time.perf_counter()
    try:
        result = run_backtest(settings, config, log=lambda m: click.echo(f"  {m}", err=True))
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    monthly = monthly_table(result)
    paths = write_reports(result, settings.reports_dir / "backtest")
    click.echo()
    click.echo(
        f"backtest {config.start}..{config.end}: first model on data up to {config.initial_day}, "
        f"steps of {config.step_days} day(s); drift share >= {settings.loop.retrain_drift_share}, "
        f"cooldown {settings.loop.retrain_cooldown_days} days; "
        f"{len(result.models)} distinct models trained"
    )
    click.echo(format_table(result, monthly))
    click.echo()
    for run in result.runs.values():
        for r in run.retrains:
            if r.reason != "initial":
                click.echo(
                    f"  {run.policy:<8} serves from {r.serves_from}  "
                    f"(data up to {r.data_day}): {r.reason}, {r.signal}"
                )
    verdict = summer_verdict(result)
    click.echo()
    click.echo(verdict.describe())
    click.echo(f"reports: {', '.join(str(p) for p in paths.values())}")
    click.echo(f"took {time.perf_counter() - began:.0f}s")
    if verdicts:
        _verdicts(result, settings)


def _verdicts(result: BacktestResult, settings: Settings) -> None:
    """Judge every challenger both ways; the table, a CSV, and the JSON closing line."""
    import json

    from mlsys_assets.backtest.verdicts import (
        closing_line,
        format_verdicts,
        judge_challengers,
        max_wait_tradeoff,
    )
    from mlsys_assets.registry.verdict import VerdictRule

    cache: dict = {}
    table = judge_challengers(result, result.period, settings, cache)
    tradeoff = max_wait_tradeoff(result, result.period, settings, cache=cache)
    out = settings.reports_dir / "backtest" / "verdicts.csv"
    table.to_csv(out, index=False)
    click.echo()
    click.echo(
        f"canary verdicts: paired = {VerdictRule.from_settings(settings).describe()}; "
        f"unpaired = share {settings.loop.canary_share}, {settings.loop.canary_min_labelled} labelled "
        f"challenger answers, margin {settings.loop.canary_margin}; truth = both models on the "
        f"next 30 days"
    )
    click.echo(format_verdicts(table))
    click.echo()
    click.echo(
        "the paired verdict's maximum wait (MLSYS_LOOP__CANARY_MAX_LABELLED) against its accuracy:"
    )
    click.echo(tradeoff.to_string(index=False))
    click.echo(f"verdicts: {out}")
    click.echo(json.dumps(closing_line(table)))
