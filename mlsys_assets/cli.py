"""The ``mlsys`` command line. Each sub-command lives beside the layer it drives.

Sub-commands are imported only when invoked, so ``mlsys --help`` stays fast and a command
never pays for another layer's imports (MLflow, XGBoost, FastAPI).
"""

from __future__ import annotations

import importlib

import click

from mlsys_assets.config_errors import ConfigurationError

# name -> "module:attribute" of a click command or group.
COMMANDS: dict[str, str] = {
    "replay": "mlsys_assets.replay.command:replay",
    "stream": "mlsys_assets.stream.command:stream",
    "quarantine": "mlsys_assets.ingestion.command:quarantine",
    "ingest": "mlsys_assets.ingestion.command:ingest",
    "ui": "mlsys_assets.ui:ui",
    "daemon": "mlsys_assets.daemon:daemon",
    "code-server": "mlsys_assets.code_server:code_server",
    "demo": "mlsys_assets.demo:demo",
    "serve": "serving.command:serve",
    "model": "mlsys_assets.registry.command:model",
    "backtest": "mlsys_assets.backtest.command:backtest",
    "decisions": "mlsys_assets.downstream.command:decisions",
    "reports": "mlsys_assets.reports_server:reports",
}


class LazyGroup(click.Group):
    """A click group whose sub-commands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attribute = target.split(":")
        command = getattr(importlib.import_module(module_name), attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{target} is not a click command")
        return command

    def invoke(self, ctx: click.Context) -> object:
        """A wrong setting ends the command with its one-line explanation and exit code 2."""
        try:
            return super().invoke(ctx)
        except ConfigurationError as exc:
            click.echo(f"mlsys: configuration error: {exc}", err=True)
            ctx.exit(2)


@click.group(cls=LazyGroup)
@click.version_option(package_name="mlsys")
def main() -> None:
    """mlsys: the production ML platform, as a Dagster asset graph."""


if __name__ == "__main__":
    main()
