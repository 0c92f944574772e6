"""One picture of the model's health over time, read from the ``monitoring`` tables.

Four panels share the time axis: drifted feature share, live ROC AUC (with its estimate before
labels), positive rate, and fallback rate; a dashed line marks each day the monitored model
version changed. A second picture is the segment heat map: one row per carrier, origin and
departure-hour band, one column per day, coloured by the segment's effect (calibration gap once
labels land, else the score shift beyond the rest of the day), flagged cells marked.

Both are written under ``reports_dir`` and served by the report server; the asset's description
shows them as images by URL (the Dagster asset page renders its description), so they are seen
without opening a markdown dialog.
"""

from __future__ import annotations

import io

import duckdb
import pandas as pd

from mlsys_assets.monitoring.store import history
from mlsys_assets.settings import get_settings

OVERVIEW_PNG = "monitoring_overview.png"
SEGMENTS_PNG = "segments_heatmap.png"


def overview_description() -> str:
    """The overview asset's description: both pictures, by the report server's URL."""
    base = get_settings().reports_url
    return (
        "Drift share, live AUC, positive rate and fallback rate over time, and the segment heat "
        f"map (served by `mlsys reports`).\n\n![monitoring overview]({base}/{OVERVIEW_PNG})"
        f"\n\n![segments]({base}/{SEGMENTS_PNG})"
    )


OVERVIEW_DESCRIPTION = overview_description()


def overview_frame(conn: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Per day: drift share, live and estimated AUC, positive rate, fallback rate, model version."""
    drift = history(conn, "drift_summary")
    live = history(conn, "live_performance", "WHERE variant = 'all'")
    preds = history(conn, "prediction_drift", "WHERE variant = 'all'")
    ops = history(conn, "operations")
    est = history(conn, "performance_estimate")
    frames = []
    if len(drift):
        frames.append(drift.set_index("day")[["drift_share", "model_version"]])
    if len(live):
        frames.append(live.set_index("day")[["roc_auc", "label_coverage"]])
    if len(est):
        frames.append(est.set_index("day")[["est_roc_auc"]])
    if len(preds):
        frames.append(preds.set_index("day")[["positive_rate"]])
    if len(ops):
        frames.append(ops.set_index("day")[["fallback_rate", "requests"]])
    if not frames:
        return pd.DataFrame()
    frame = pd.concat(frames, axis=1).sort_index()
    frame.index = pd.to_datetime(frame.index)
    return frame


def version_changes(frame: pd.DataFrame) -> list[tuple[pd.Timestamp, str]]:
    if "model_version" not in frame:
        return []
    versions = frame["model_version"].dropna()
    changed = versions[versions != versions.shift()]
    return [(day, str(v)) for day, v in changed.items()]


def overview_png(frame: pd.DataFrame) -> bytes:
    """The four-panel PNG (an empty-state figure when nothing was monitored yet)."""
    import matplotlib

    matplotlib.use("Agg")  # no display in runs and tests
    import matplotlib.pyplot as plt

    panels = [
        ("drift_share", "drifted feature share", None),
        ("roc_auc", "live ROC AUC", "est_roc_auc"),
        ("positive_rate", "positive (delayed) rate", None),
        ("fallback_rate", "fallback rate", None),
    ]
    fig, axes = plt.subplots(len(panels), 1, figsize=(10, 9), sharex=True)
    changes = version_changes(frame)
    for ax, (column, title, extra) in zip(axes, panels, strict=True):
        if column in frame and frame[column].notna().any():
            ax.plot(frame.index, frame[column], marker=".", label=title)
        if extra and extra in frame and frame[extra].notna().any():
            ax.plot(frame.index, frame[extra], linestyle=":", marker=".", label="estimated (CBPE)")
        for day, version in changes:
            ax.axvline(day, color="grey", linestyle="--", linewidth=0.8)
            if ax is axes[0]:
                ax.annotate(f"v{version}", (day, 1.0), xycoords=("data", "axes fraction"),
                            fontsize=8, rotation=90, va="top")  # fmt: skip
        ax.set_ylabel(title, fontsize=8)
        ax.grid(alpha=0.3)
        if extra:
            ax.legend(fontsize=7, loc="lower left")
    axes[0].set_title("flight_delay monitoring" + ("" if len(frame) else " (no data yet)"))
    fig.autofmt_xdate()
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80)
    plt.close(fig)
    return buffer.getvalue()


def segment_frame(conn: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Per tested segment and day: the effect (calibration gap, else score shift), the flag."""
    rows = history(conn, "segments")
    if rows.empty:
        return rows
    rows = rows.assign(
        name=rows["dimension"] + "=" + rows["segment"],
        effect=rows["calibration_gap"].fillna(rows["shift"]).where(rows["p_adjusted"].notna()),
    )
    # Only segments with enough traffic to be tested: a carrier with two flights a day would
    # paint its noise in the deepest colours.
    tested = rows.groupby("name")["effect"].transform(lambda e: e.notna().any())
    return rows.loc[tested, ["day", "name", "dimension", "n", "effect", "flagged"]]


def segment_heatmap_png(frame: pd.DataFrame) -> bytes:
    """Segment x day heat map of the effect; flagged cells carry an ``x``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if frame.empty:
        fig, ax = plt.subplots(figsize=(6, 2))
        ax.set_title("segments (no data yet)")
        ax.axis("off")
    else:
        effect = frame.pivot_table(index="name", columns="day", values="effect", aggfunc="first")
        flags = frame.pivot_table(index="name", columns="day", values="flagged", aggfunc="max")
        order = frame.drop_duplicates("name").sort_values(["dimension", "name"])["name"]
        effect, flags = effect.reindex(order), flags.reindex(order).reindex(columns=effect.columns)
        fig, ax = plt.subplots(
            figsize=(min(4 + 0.25 * effect.shape[1], 20), 1.5 + 0.22 * effect.shape[0])
        )
        image = ax.imshow(effect.to_numpy(dtype="float64"), aspect="auto", cmap="RdBu_r",
                          vmin=-0.2, vmax=0.2, interpolation="nearest")  # fmt: skip
        for i, j in zip(*(flags.fillna(False).astype(bool).to_numpy().nonzero()), strict=True):
            ax.text(j, i, "x", ha="center", va="center", fontsize=8, fontweight="bold")
        ax.set_yticks(range(len(effect.index)), effect.index, fontsize=7)
        days = [pd.Timestamp(d).strftime("%m-%d") for d in effect.columns]
        step = max(1, len(days) // 20)
        ax.set_xticks(range(0, len(days), step), days[::step], fontsize=7, rotation=90)
        fig.colorbar(image, ax=ax, label="effect (expected - observed, or score shift)")
        ax.set_title("segments by day (x: flagged after Holm correction)")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80)
    plt.close(fig)
    return buffer.getvalue()
