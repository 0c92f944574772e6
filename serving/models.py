"""The models being served, refreshed from the registry aliases and swapped atomically.

``ModelWatcher.state`` is one immutable ``ServingModels``; a refresh builds a new one off the
request path and replaces the reference in a single assignment, so a request sees either the old
set or the new one, never a mix, and none fails during a swap. The watcher keeps the champion it
replaced as ``previous`` (the fallback when the champion cannot predict) and keeps serving what
it has when the registry cannot be reached.

With several workers, ``reload_everywhere`` (``POST /admin/reload``) also bumps the reload
generation that every worker's watcher checks each ``CHECK_SECONDS`` (``reload_broadcast.py``),
so all of them reload within a second, not at their next poll.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from mlsys_assets.model_contract import ALIAS_CHALLENGER, ALIAS_CHAMPION, Baseline
from mlsys_assets.scoring.loading import ModelLoadError, RegistryReader
from mlsys_assets.scoring.predictor import ModelBundle
from mlsys_assets.secrets import redact_url
from serving.metrics import ServingMetrics
from serving.reload_broadcast import CHECK_SECONDS, ReloadGeneration

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServingModels:
    """An immutable snapshot of what answers requests."""

    champion: ModelBundle | None = None
    challenger: ModelBundle | None = None
    previous: ModelBundle | None = None
    baseline: Baseline | None = None
    baseline_version: str | None = None
    threshold: float = 0.5  # the champion's, applied to baseline answers

    def loaded(self) -> list[ModelBundle]:
        """Every loaded model that may answer: champion, challenger, previous champion."""
        return [m for m in (self.champion, self.challenger, self.previous) if m is not None]


@dataclass
class RefreshResult:
    ok: bool
    champion: str | None
    challenger: str | None
    changed: bool
    errors: list[str] = field(default_factory=list)


class ModelWatcher:
    """Polls the registry aliases and swaps in new versions (also on ``POST /admin/reload``)."""

    def __init__(
        self,
        reader: RegistryReader,
        metrics: ServingMetrics,
        poll_seconds: float,
        baseline_cache: Path | None = None,
        generation: ReloadGeneration | None = None,
    ) -> None:
        self.reader = reader
        self.generation = generation
        self.metrics = metrics
        self.poll_seconds = poll_seconds
        self.baseline_cache = baseline_cache
        self.state = ServingModels(**_cached_baseline(baseline_cache))
        self.last_refresh_ok: bool | None = None
        self.last_error: str | None = None
        self._refresh_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._poll, name="model-watcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _poll(self) -> None:
        """Refresh every ``poll_seconds``, and as soon as another worker asked for a reload."""
        tick = self.poll_seconds
        if self.generation is not None:
            tick = min(CHECK_SECONDS, self.poll_seconds)
        last = time.monotonic()
        while not self._stop.wait(tick):
            asked = self.generation is not None and self.generation.changed()
            if not asked and time.monotonic() - last < self.poll_seconds:
                continue
            last = time.monotonic()
            try:
                self.refresh()
            except Exception:  # noqa: BLE001 - the poller must outlive any one failure
                logger.exception("model refresh failed")

    def reload_everywhere(self) -> RefreshResult:
        """Reload here now, then have every other worker of this MLSYS_HOME reload too."""
        result = self.refresh()
        if self.generation is not None:
            try:
                self.generation.bump()
            except OSError:
                logger.exception("cannot signal the other workers to reload")
        return result

    def refresh(self) -> RefreshResult:
        """Read both aliases and load what changed; keep serving the current set on failure."""
        with self._refresh_lock:
            try:
                wanted = {
                    ALIAS_CHAMPION: self.reader.alias_version(ALIAS_CHAMPION),
                    ALIAS_CHALLENGER: self.reader.alias_version(ALIAS_CHALLENGER),
                }
            except Exception as exc:  # noqa: BLE001 - registry unreachable: keep the last models
                self.metrics.fallback("registry_unreachable")
                self.metrics.reloads.labels(result="unreachable").inc()
                self.last_refresh_ok = False
                # MLflow's message carries the tracking URI, password included: never show it.
                self.last_error = redact_url(f"registry unreachable: {exc}")
                logger.warning(self.last_error)
                state = self.state
                return RefreshResult(
                    False,
                    _version(state.champion),
                    _version(state.challenger),
                    False,
                    [self.last_error],
                )
            new, errors = self._next_state(self.state, wanted)
            changed = new != self.state
            if changed:
                self.state = new  # the atomic swap
                self._publish(new)
            self.last_refresh_ok = not errors
            errors = [redact_url(error) for error in errors]
            self.last_error = "; ".join(errors) or None
            self.metrics.reloads.labels(result="ok" if not errors else "partial").inc()
            return RefreshResult(
                not errors, _version(new.champion), _version(new.challenger), changed, errors
            )

    def _next_state(
        self, state: ServingModels, wanted: dict[str, str | None]
    ) -> tuple[ServingModels, list[str]]:
        errors: list[str] = []
        loaded = {m.version: m for m in state.loaded()}

        def get(version: str, reason: str) -> ModelBundle | None:
            if version in loaded:
                return loaded[version]
            try:
                bundle = self.reader.load(version)
            except ModelLoadError as exc:
                self.metrics.fallback(reason)
                errors.append(str(exc))
                logger.error("%s", exc)
                return None
            loaded[version] = bundle
            return bundle

        champion, previous = state.champion, state.previous
        want_champion = wanted[ALIAS_CHAMPION]
        if want_champion is not None and _version(champion) != want_champion:
            bundle = get(want_champion, "champion_load_failed")
            if bundle is not None:  # else keep serving the champion we have
                previous = champion if champion is not None else previous
                champion = bundle
        challenger = None
        want_challenger = wanted[ALIAS_CHALLENGER]
        if want_challenger is not None and want_challenger != _version(champion):
            challenger = get(want_challenger, "challenger_load_failed")
        baseline, baseline_version = state.baseline, state.baseline_version
        for model in (champion, previous):
            if model is not None and model.baseline is not None:
                baseline, baseline_version = model.baseline, model.version
                break
        threshold = champion.threshold if champion is not None else state.threshold
        return (
            ServingModels(champion, challenger, previous, baseline, baseline_version, threshold),
            errors,
        )

    def _publish(self, state: ServingModels) -> None:
        for alias, model in (
            (ALIAS_CHAMPION, state.champion),
            (ALIAS_CHALLENGER, state.challenger),
        ):
            self.metrics.model_version.labels(alias=alias).set(_numeric(_version(model)))
        logger.info(
            "serving champion=%s challenger=%s",
            _version(state.champion),
            _version(state.challenger),
        )
        if self.baseline_cache is not None and state.baseline is not None:
            try:
                self.baseline_cache.parent.mkdir(parents=True, exist_ok=True)
                tmp = self.baseline_cache.with_suffix(".tmp")
                payload = {
                    "version": state.baseline_version,
                    "threshold": state.threshold,
                    "baseline": json.loads(state.baseline.to_json()),
                }
                tmp.write_text(json.dumps(payload))
                tmp.replace(self.baseline_cache)
            except OSError:
                logger.warning("cannot cache the baseline at %s", self.baseline_cache)


def _version(model: ModelBundle | None) -> str | None:
    return model.version if model is not None else None


def _numeric(version: str | None) -> float:
    try:
        return float(version) if version is not None else 0.0
    except ValueError:
        return 0.0


def _cached_baseline(path: Path | None) -> dict[str, object]:
    """The baseline cached by an earlier process: an answer even before the registry replies."""
    if path is None or not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
        baseline = Baseline.from_json(json.dumps(data["baseline"]))
        return {
            "baseline": baseline,
            "baseline_version": data.get("version"),
            "threshold": float(data.get("threshold", 0.5)),
        }
    except (OSError, ValueError, KeyError, TypeError):
        return {}
