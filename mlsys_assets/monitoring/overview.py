"""One picture of the model's health over time, read from the ``monitoring`` tables.

Four panels share the time axis: drifted feature share, live ROC AUC (with its estimate before
labels), positive rate, and fallback rate; a dashed line marks each day the monitored model
version changed.
"""

from __future__ import annotations

import io

import duckdb
import pandas as pd

from mlsys_assets.monitoring.store import history


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
