"""Loading a registered model version (booster + contract artifacts) from the MLflow registry.

Serving and batch scoring both load through here, so a version means the same booster, feature
spec, threshold and baseline everywhere. Artifacts are looked up beside the model first, then at
the root of the run that logged it.
"""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import mlflow
import xgboost as xgb
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from mlsys_assets.model_contract import (
    BASELINE_ARTIFACT,
    FEATURE_SPEC_ARTIFACT,
    MODEL_ARTIFACT_PATH,
    TAG_THRESHOLD,
    Baseline,
    FeatureSpec,
)
from mlsys_assets.scoring.predictor import DEFAULT_THRESHOLD, ModelBundle
from mlsys_assets.scoring.pyfunc_model import ARTIFACTS_DIR, BOOSTER_ARTIFACT, load_native

_FLUENT_LOCK = threading.Lock()


@contextmanager
def fluent_uri(uri: str) -> Iterator[None]:
    """Point MLflow's process-wide tracking and registry URIs at ``uri`` for a moment."""
    with _FLUENT_LOCK:
        previous_tracking, previous_registry = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
        mlflow.set_tracking_uri(uri)
        mlflow.set_registry_uri(uri)
        try:
            yield
        finally:
            mlflow.set_tracking_uri(previous_tracking)
            mlflow.set_registry_uri(previous_registry)


def _servable(spec: FeatureSpec) -> str | None:
    """Why serving cannot feed this model (None when it can): an unknown feature service, or
    a feature the served service does not provide."""
    from mlsys_assets.features.catalog import SERVED, SERVICES

    if spec.feature_service not in SERVICES:
        return (
            f"trained on feature service {spec.feature_service!r}, which this serving does not "
            f"provide (it serves {sorted(SERVICES)})"
        )
    unknown = sorted(set(spec.feature_names) - set(SERVED.feature_names))
    return f"features {unknown[:5]} are not served" if unknown else None


class ModelLoadError(RuntimeError):
    """A registered version could not be turned into a usable ``ModelBundle``."""


class RegistryReader:
    """Read-only access to one registered model: what an alias points at, and loading a version."""

    def __init__(self, tracking_uri: str, model_name: str) -> None:
        if tracking_uri.startswith("sqlite:///"):
            Path(tracking_uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        self.tracking_uri = tracking_uri
        self.model_name = model_name
        self.client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)

    def alias_version(self, alias: str) -> str | None:
        """The version an alias points at, or None when the alias (or the model) does not exist.

        Any other failure (the registry is unreachable) raises: the caller must tell "no model"
        from "cannot ask".
        """
        try:
            return str(self.client.get_model_version_by_alias(self.model_name, alias).version)
        except MlflowException as exc:
            if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
                return None
            raise

    def load(self, version: str) -> ModelBundle:
        """Download and load one version; raise ``ModelLoadError`` if it is not usable."""
        name = self.model_name
        try:
            model_version = self.client.get_model_version(name, version)
            with tempfile.TemporaryDirectory(prefix="mlsys-model-") as tmp:
                with fluent_uri(self.tracking_uri):  # models:/ resolves via the fluent URIs
                    model_dir = Path(
                        mlflow.artifacts.download_artifacts(
                            artifact_uri=f"models:/{name}/{version}",
                            dst_path=str(Path(tmp) / "model"),
                        )
                    )
                booster = _load_booster(model_dir)
                run_id = model_version.run_id
                spec_text = self._artifact_text(run_id, model_dir, tmp, FEATURE_SPEC_ARTIFACT)
                baseline_text = self._artifact_text(run_id, model_dir, tmp, BASELINE_ARTIFACT)
        except ModelLoadError:
            raise
        except Exception as exc:  # noqa: BLE001 - any failure means this version is unusable
            raise ModelLoadError(f"cannot load {name} v{version}: {exc}") from exc
        if spec_text is None:
            raise ModelLoadError(f"{name} v{version} has no {FEATURE_SPEC_ARTIFACT}")
        spec = FeatureSpec.from_json(spec_text)
        servable = _servable(spec)
        if servable is not None:
            raise ModelLoadError(f"{name} v{version}: {servable}")
        if booster.num_features() != len(spec.feature_names):
            raise ModelLoadError(
                f"{name} v{version}: booster has {booster.num_features()} features, "
                f"spec lists {len(spec.feature_names)}"
            )
        return ModelBundle(
            name=name,
            version=str(version),
            booster=booster,
            spec=spec,
            threshold=_threshold(model_version.tags.get(TAG_THRESHOLD)),
            baseline=Baseline.from_json(baseline_text) if baseline_text else None,
            run_id=model_version.run_id,
        )

    def _artifact_text(
        self, run_id: str | None, model_dir: Path, tmp: str, artifact: str
    ) -> str | None:
        """An artifact's text from the model folder, else from the run (None when absent)."""
        for candidate in (model_dir / artifact, model_dir / "artifacts" / artifact):
            if candidate.is_file():
                return candidate.read_text()
        if not run_id:
            return None
        for path in (artifact, f"{MODEL_ARTIFACT_PATH}/{artifact}"):
            try:
                local = self.client.download_artifacts(run_id, path, dst_path=tmp)
            except Exception:  # noqa: BLE001, S112 - absent at this path; try the next
                continue
            if Path(local).is_file():
                return Path(local).read_text()
        return None


def _load_booster(model_dir: Path) -> xgb.Booster:
    """The native booster of a registered model (an mlsys pyfunc, or a plain XGBoost model)."""
    if (model_dir / ARTIFACTS_DIR / BOOSTER_ARTIFACT).is_file():
        booster, _ = load_native(model_dir)
        return booster
    model = mlflow.xgboost.load_model(str(model_dir))
    booster = model.get_booster() if hasattr(model, "get_booster") else model
    if not isinstance(booster, xgb.Booster):
        raise ModelLoadError(f"not an XGBoost model: {type(model).__name__}")
    return booster


def _threshold(tag: str | None) -> float:
    try:
        value = float(tag) if tag is not None else DEFAULT_THRESHOLD
    except ValueError:
        return DEFAULT_THRESHOLD
    return value if 0.0 <= value <= 1.0 else DEFAULT_THRESHOLD
