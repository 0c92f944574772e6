"""The code location loads, and every job in it resolves (what `dagster dev` does first)."""

from __future__ import annotations

from mlsys_assets.definitions import build_definitions


def test_definitions_load_and_jobs_resolve(mlsys_home) -> None:
    defs = build_definitions()
    repo = defs.get_repository_def()
    for job in repo.get_all_jobs():
        assert defs.resolve_job_def(job.name) is not None
