"""A wrong setting stops any command with one line naming the variable and what it allows."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mlsys_assets.processes import child_environment

pytestmark = pytest.mark.process  # each test runs the mlsys CLI


def _mlsys(*args: str, cwd: Path | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlsys_assets.cli", *args],
        cwd=cwd,
        env={**child_environment(), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("command", [["serve", "--port", "1"], ["ingest"], ["demo", "--quick"]])
def test_an_out_of_range_setting_is_one_line_naming_the_variable_and_range(
    tmp_path, command
) -> None:
    # A file mlsys did not write: were the setting accepted, the demo would stop at once.
    (tmp_path / "not-ours.txt").write_text("")
    done = _mlsys(*command, MLSYS_HOME=str(tmp_path), MLSYS_LOOP__CANARY_SHARE="1.5")
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1, done.stderr
    assert "MLSYS_LOOP__CANARY_SHARE=1.5" in done.stderr
    assert ">= 0.0 and <= 1.0" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_choice_setting_lists_the_allowed_values(tmp_path) -> None:
    done = _mlsys(
        "model", "list", MLSYS_HOME=str(tmp_path), MLSYS_BACKENDS__ONLINE_STORE="cassandra"
    )
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "mlsys: configuration error: MLSYS_BACKENDS__ONLINE_STORE=cassandra is invalid: "
        "should be 'sqlite' or 'redis' (allowed: one of sqlite, redis)"
    )


def test_a_file_as_home_is_one_clear_line(tmp_path) -> None:
    home = tmp_path / "not-a-directory"
    home.write_text("")
    done = _mlsys("model", "list", MLSYS_HOME=str(home))
    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"mlsys: configuration error: MLSYS_HOME={home} is a file, not a directory: "
        "point MLSYS_HOME at a directory"
    )


def test_an_unwritable_home_is_one_clear_line(tmp_path) -> None:
    # /proc refuses new directories even to root (a chmod'ed directory would not stop root).
    done = _mlsys("model", "list", MLSYS_HOME="/proc/mlsys-home")
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1, done.stderr
    assert "MLSYS_HOME=/proc/mlsys-home is not a writable directory" in done.stderr


def test_a_misspelt_setting_is_refused_with_the_name_it_likely_meant(tmp_path) -> None:
    # Silently ignored before: the default log flush stayed in force under a wrong belief.
    done = _mlsys("model", "list", MLSYS_HOME=str(tmp_path), MLSYS_SERVING__LOG_FLUSH_ROW="7")
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "mlsys: configuration error: unknown setting MLSYS_SERVING__LOG_FLUSH_ROW: section "
        "serving has no setting log_flush_row; did you mean MLSYS_SERVING__LOG_FLUSH_ROWS?"
    )


def test_a_misspelt_section_names_the_sections(tmp_path) -> None:
    done = _mlsys("model", "list", MLSYS_HOME=str(tmp_path), MLSYS_SERVNG__LOG_FLUSH_ROWS="7")
    assert done.returncode == 2
    assert "no section servng (ingestion, features," in done.stderr
    assert "did you mean MLSYS_SERVING__LOG_FLUSH_ROWS?" in done.stderr


def test_a_variable_of_another_tool_with_the_prefix_is_left_alone(tmp_path) -> None:
    done = _mlsys("model", "list", MLSYS_HOME=str(tmp_path), MLSYS_TEST_CACHE="off")
    assert done.returncode == 0, done.stderr


def test_a_misspelt_setting_in_the_dotenv_file_is_refused_too(tmp_path) -> None:
    (tmp_path / ".env").write_text("MLSYS_SERVING__LOG_FLUSH_ROW=7\n")
    done = _mlsys("model", "list", cwd=tmp_path, MLSYS_HOME=str(tmp_path / "home"))
    assert done.returncode == 2
    assert "unknown setting MLSYS_SERVING__LOG_FLUSH_ROW" in done.stderr
