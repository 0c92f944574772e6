"""Batch scoring: the champion scores every flight of the next day into ``serving.batch_scores``.

``predictor``, ``loading`` and ``rules`` are the prediction code shared with online serving (they
import no Dagster); the asset lives in ``assets`` and is imported only by ``build_defs``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import dagster as dg

TABLE = "serving.batch_scores"  # where batch scores land, one row per flight and day scored


def build_defs() -> dg.Definitions:
    """The scoring group's batch-scoring asset (resources: ``warehouse``, ``tracking``)."""
    import dagster as dg

    from mlsys_assets.scoring.assets import batch_scores

    return dg.Definitions(assets=[batch_scores])
