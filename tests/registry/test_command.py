"""`mlsys model list | promote | rollback | history | restore` against a real registry."""

from __future__ import annotations

from click.testing import CliRunner

from mlsys_assets.cli import main
from mlsys_assets.model_contract import ALIAS_CHALLENGER, ALIAS_CHAMPION
from mlsys_assets.registry import aliases
from mlsys_assets.registry.workflow import register_trained
from mlsys_assets.resources.tracking import Tracking
from mlsys_assets.training.dataset import select_training_set
from mlsys_assets.training.pipeline import train_model


def test_model_commands_move_the_aliases(train_settings, conn, windows) -> None:
    tracking = Tracking.from_settings(train_settings)
    trained = train_model(select_training_set(conn, windows), train_settings, trials=0, seed=1)
    v1, v2 = (register_trained(tracking, trained, train_settings)[0].version for _ in range(2))
    runner = CliRunner()

    listed = runner.invoke(main, ["model", "list"])
    assert listed.exit_code == 0, listed.output
    assert ALIAS_CHAMPION in listed.output and ALIAS_CHALLENGER in listed.output

    promoted = runner.invoke(main, ["model", "promote", v2])
    assert promoted.exit_code == 0, promoted.output
    assert aliases.current(tracking) == {ALIAS_CHAMPION: v2, ALIAS_CHALLENGER: None}

    rolled = runner.invoke(main, ["model", "rollback"])
    assert rolled.exit_code == 0, rolled.output
    assert aliases.current(tracking)[ALIAS_CHAMPION] == v1

    again = runner.invoke(main, ["model", "rollback"])
    assert again.exit_code != 0 and "no predecessor" in again.output

    history = runner.invoke(main, ["model", "history"])
    assert history.exit_code == 0 and "rollback" in history.output
    restored = runner.invoke(main, ["model", "restore", "2"])  # event 2: v1 champion, v2 challenger
    assert restored.exit_code == 0, restored.output
    assert aliases.current(tracking) == {ALIAS_CHAMPION: v1, ALIAS_CHALLENGER: v2}
