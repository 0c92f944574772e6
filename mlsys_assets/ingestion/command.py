"""``mlsys ingest --from/--to`` and ``mlsys quarantine summary|replay``."""

from __future__ import annotations

import datetime as dt

import click

from mlsys_assets.settings import get_settings

_DAY = click.DateTime(formats=["%Y-%m-%d"])


@click.command()
@click.option(
    "--from", "start", type=_DAY, default=None, help="First day (default: the first day of data)."
)
@click.option("--to", "end", type=_DAY, default=None, help="Last day (default: replay clock).")
def ingest(start: dt.datetime | None, end: dt.datetime | None) -> None:
    """Materialize every ingestion asset for a range of days, as one Dagster run."""
    from mlsys_assets.clock import read_state
    from mlsys_assets.ingestion.run import check_results, ingest_range
    from mlsys_assets.nycflights import FIRST_DAY
    from mlsys_assets.pool_wait import PoolWaitTimeout

    settings = get_settings()
    state = read_state(settings.landing_dir)
    if end is None and state is None:
        raise click.UsageError("nothing replayed yet: run `mlsys replay --until ...` or pass --to")
    first = start.date() if start else FIRST_DAY
    last = end.date() if end else dt.date.fromisoformat(state["last_day"])  # type: ignore[index]
    try:
        result = ingest_range(settings, first, last, say=lambda line: click.echo(line, err=True))
    except PoolWaitTimeout as exc:
        raise click.ClickException(str(exc)) from None
    except KeyboardInterrupt:
        click.echo("interrupted: no ingestion run was started or it was stopped", err=True)
        raise SystemExit(130) from None
    click.echo(
        f"run {result.run_id}: {'success' if result.success else 'FAILED'} ({first}..{last})"
    )
    for check, passed in sorted(check_results(result).items()):
        click.echo(f"  {'ok  ' if passed else 'FAIL'} {check}")
    if not result.success:
        raise SystemExit(1)


@click.group()
def quarantine() -> None:
    """Inspect and replay rows held in raw.quarantine."""


@quarantine.command("summary")
def quarantine_summary() -> None:
    """Quarantined rows per source and reason."""
    from mlsys_assets.ingestion.quarantine import summary
    from mlsys_assets.resources.warehouse import Warehouse

    settings = get_settings()
    # Closed before printing (to a pager, perhaps): it never keeps an ingestion run waiting.
    # Not read-only: the quarantine tables are created on first use.
    with Warehouse(path=str(settings.warehouse_path)).connect() as conn:
        table = summary(conn)
    click.echo(table.to_string(index=False))


@quarantine.command("replay")
@click.option("--source", type=click.Choice(["flights", "weather"]), multiple=True)
def quarantine_replay(source: tuple[str, ...]) -> None:
    """Re-validate pending rows against the current contract; move those that pass."""
    from mlsys_assets.ingestion.quarantine import REPLAYABLE, replay_quarantine
    from mlsys_assets.resources.warehouse import Warehouse

    settings = get_settings()
    with Warehouse(path=str(settings.warehouse_path)).connect() as conn:
        for name in source or REPLAYABLE:
            out = replay_quarantine(conn, name)
            click.echo(
                f"{name}: {out.pending} pending, {out.replayed} replayed, "
                f"{out.still_failing} still failing, {out.already_present} already present"
            )
