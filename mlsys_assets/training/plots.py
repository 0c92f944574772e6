"""PNG plots of an evaluation: ROC, precision-recall, calibration, feature importance.

Rendered off-screen (Agg) to bytes, so the same images go to MLflow as artifacts and into the
Dagster UI as markdown metadata.
"""

from __future__ import annotations

import base64
import io

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.metrics import precision_recall_curve, roc_curve  # noqa: E402


def _png(fig: plt.Figure) -> bytes:
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=80)
    plt.close(fig)
    return buffer.getvalue()


def roc_plot(y: np.ndarray, curves: dict[str, np.ndarray]) -> bytes:
    fig, ax = plt.subplots(figsize=(5, 4))
    for name, p in curves.items():
        fpr, tpr, _ = roc_curve(y, p)
        ax.plot(fpr, tpr, label=name)
    ax.plot([0, 1], [0, 1], "k:", linewidth=0.8)
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC (test)")
    ax.legend(loc="lower right")
    return _png(fig)


def pr_plot(y: np.ndarray, curves: dict[str, np.ndarray], threshold: float) -> bytes:
    fig, ax = plt.subplots(figsize=(5, 4))
    for name, p in curves.items():
        precision, recall, _ = precision_recall_curve(y, p)
        ax.plot(recall, precision, label=name)
    model = next(iter(curves.values()))
    flagged = model >= threshold
    if flagged.any():
        ax.scatter(
            [(flagged & (y == 1)).sum() / max((y == 1).sum(), 1)],
            [(flagged & (y == 1)).sum() / flagged.sum()],
            color="red",
            zorder=3,
            label=f"threshold {threshold:.3f}",
        )
    ax.axhline(float(np.mean(y)), color="k", linestyle=":", linewidth=0.8)
    ax.set(xlabel="recall", ylabel="precision", title="Precision-recall (test)")
    ax.legend(loc="upper right")
    return _png(fig)


def calibration_plot(table: pd.DataFrame) -> bytes:
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.plot([0, 1], [0, 1], "k:", linewidth=0.8)
    ax.plot(table["predicted"], table["observed"], "o-")
    ax.set(xlabel="mean predicted", ylabel="observed delay rate", title="Calibration (test)")
    return _png(fig)


def importance_plot(importance: dict[str, float], top: int = 20) -> bytes:
    items = sorted(importance.items(), key=lambda kv: kv[1])[-top:]
    fig, ax = plt.subplots(figsize=(5, 0.25 * len(items) + 1.2))
    ax.barh([k for k, _ in items], [v for _, v in items])
    ax.set(xlabel="total gain", title="Feature importance")
    return _png(fig)


def markdown_image(png: bytes, alt: str) -> str:
    """Inline a PNG into markdown (how Dagster metadata shows an image)."""
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode()})"


def markdown_table(frame: pd.DataFrame, digits: int = 4) -> str:
    """A small DataFrame as a markdown table (Dagster renders it in the asset's metadata)."""

    def cell(value: object) -> str:
        return f"{value:.{digits}f}" if isinstance(value, float) else str(value)

    lines = ["| " + " | ".join(map(str, frame.columns)) + " |"]
    lines.append("|" + "---|" * len(frame.columns))
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(False)]
    return "\n".join(lines)
