"""Alias moves (challenger, champion, rollback, restore) with their history kept in tags.

Every move appends one event to the registered model's tags (``alias_history.000001`` ...):
the action, the version and the full alias state after it, so ``restore`` can bring back any
past state and ``rollback`` knows which champion came before the current one.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass

from mlsys_assets.lazy_imports import load
from mlsys_assets.model_contract import (
    ALIAS_CHALLENGER,
    ALIAS_CHAMPION,
    TAG_CANARY_DECISION,
    TAG_CANARY_INTERVAL,
    TAG_CANARY_N,
    TAG_CANARY_REASON,
    TAG_CANARY_RULE,
    TAG_CANARY_RUN_ID,
    TAG_GATE,
)
from mlsys_assets.registry.store import version_by_alias
from mlsys_assets.resources.tracking import Tracking

HISTORY_PREFIX = "alias_history."
ALIASES = (ALIAS_CHAMPION, ALIAS_CHALLENGER)


class AliasError(RuntimeError):
    """An alias move that the rules forbid (gate not passed, nothing to roll back to...)."""


@dataclass(frozen=True)
class AliasEvent:
    """One move and the alias state right after it."""

    event: int
    action: str  # initial | challenger | promote | rollback | restore
    version: str | None
    champion: str | None
    challenger: str | None
    at: str
    note: str = ""


def current(tracking: Tracking) -> dict[str, str | None]:
    return {alias: version_by_alias(tracking, alias) for alias in ALIASES}


def history(tracking: Tracking) -> list[AliasEvent]:
    """All recorded moves, oldest first."""
    mlflow_exception = load("mlflow.exceptions").MlflowException
    try:
        tags = tracking.client().get_registered_model(tracking.model_name).tags
    except mlflow_exception:
        return []  # nothing registered yet
    events = [AliasEvent(**json.loads(v)) for k, v in tags.items() if k.startswith(HISTORY_PREFIX)]
    return sorted(events, key=lambda e: e.event)


def gate_passed(tracking: Tracking, version: str) -> bool:
    from mlsys_assets.registry.gate import PASSED

    mv = tracking.client().get_model_version(tracking.model_name, version)
    return mv.tags.get(TAG_GATE) == PASSED


def _set_state(tracking: Tracking, champion: str | None, challenger: str | None) -> None:
    client = tracking.client()
    for alias, version in ((ALIAS_CHAMPION, champion), (ALIAS_CHALLENGER, challenger)):
        if version is None:
            if version_by_alias(tracking, alias) is not None:
                client.delete_registered_model_alias(tracking.model_name, alias)
        else:
            client.set_registered_model_alias(tracking.model_name, alias, version)


def _record(tracking: Tracking, action: str, version: str | None, note: str = "") -> AliasEvent:
    state = current(tracking)
    past = history(tracking)
    event = AliasEvent(
        event=(past[-1].event + 1) if past else 1,
        action=action,
        version=version,
        champion=state[ALIAS_CHAMPION],
        challenger=state[ALIAS_CHALLENGER],
        at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        note=note,
    )
    tracking.client().set_registered_model_tag(
        tracking.model_name, f"{HISTORY_PREFIX}{event.event:06d}", json.dumps(asdict(event))
    )
    return event


def after_gate(tracking: Tracking, version: str) -> AliasEvent:
    """A version that passed the gate: champion if there is none yet, else challenger."""
    if not gate_passed(tracking, version):
        raise AliasError(f"version {version} has not passed the quality gate")
    state = current(tracking)
    if state[ALIAS_CHAMPION] is None:
        _set_state(tracking, version, state[ALIAS_CHALLENGER])
        return _record(tracking, "initial", version, "first model: no champion to compare with")
    _set_state(tracking, state[ALIAS_CHAMPION], version)
    return _record(tracking, "challenger", version)


def promote(tracking: Tracking, version: str, *, force: bool = False, note: str = "") -> AliasEvent:
    """Make ``version`` champion (it leaves the challenger slot if it held it)."""
    tracking.client().get_model_version(tracking.model_name, version)  # raises if unknown
    if not force and not gate_passed(tracking, version):
        raise AliasError(f"version {version} has not passed the quality gate (use --force)")
    state = current(tracking)
    challenger = None if state[ALIAS_CHALLENGER] == version else state[ALIAS_CHALLENGER]
    _set_state(tracking, version, challenger)
    return _record(tracking, "promote", version, note or ("forced" if force else ""))


def rollback(tracking: Tracking) -> AliasEvent:
    """Give ``champion`` back to the champion before the current one was promoted."""
    state = current(tracking)
    champion = state[ALIAS_CHAMPION]
    if champion is None:
        raise AliasError("no champion to roll back from")
    events = history(tracking)
    crowned = [
        i
        for i, e in enumerate(events)
        if e.champion == champion
        and e.action in ("initial", "promote", "restore")
        and (i == 0 or events[i - 1].champion != champion)
    ]
    if not crowned or crowned[-1] == 0:
        raise AliasError(f"champion v{champion} has no predecessor to roll back to")
    previous = events[crowned[-1] - 1].champion
    if previous is None:
        raise AliasError(f"champion v{champion} has no predecessor to roll back to")
    challenger = None if state[ALIAS_CHALLENGER] == previous else state[ALIAS_CHALLENGER]
    _set_state(tracking, previous, challenger)
    return _record(tracking, "rollback", previous, f"from v{champion}")


def restore(tracking: Tracking, event: int) -> AliasEvent:
    """Bring both aliases back to what they were right after history event ``event``."""
    matches = [e for e in history(tracking) if e.event == event]
    if not matches:
        raise AliasError(f"no alias history event {event}")
    target = matches[0]
    _set_state(tracking, target.champion, target.challenger)
    return _record(tracking, "restore", target.champion, f"state of event {event}")


def reject_challenger(
    tracking: Tracking, note: str = "", action: str = "canary_rollback"
) -> AliasEvent:
    """Take the challenger out of the canary (the champion keeps serving all traffic).

    ``action`` says why in the history: ``canary_rollback`` (worse) or ``canary_keep`` (no
    confident difference by the maximum wait: the champion stays).
    """
    state = current(tracking)
    challenger = state[ALIAS_CHALLENGER]
    if challenger is None:
        raise AliasError("no challenger to roll back")
    _set_state(tracking, state[ALIAS_CHAMPION], None)
    return _record(tracking, action, challenger, note)


def apply_canary_decision(
    tracking: Tracking,
    challenger: str,
    decision: str,
    reason: str,
    *,
    rule: str,
    run_id: str,
    interval: str | None = None,
    n: int | None = None,
) -> None:
    """Carry out a canary verdict on ``challenger`` and record it on its model version.

    ``promote`` makes it champion; ``rollback`` and ``keep`` take it out of the canary (the
    history says which); ``wait`` moves nothing and records nothing. The tags (decision,
    reason, rule, the deciding run, and for the paired verdict its interval and pairs) are the
    ``TAG_CANARY_*`` of ``model_contract``, which the demo and the UIs read back.
    """
    if decision == "wait":
        return
    if decision == "promote":
        promote(tracking, challenger, note=reason)
    else:
        reject_challenger(tracking, reason, action=f"canary_{decision}")
    tags = {
        TAG_CANARY_DECISION: decision,
        TAG_CANARY_REASON: reason,
        TAG_CANARY_RUN_ID: run_id,
        TAG_CANARY_RULE: rule,
    }
    if n is not None:
        tags |= {TAG_CANARY_INTERVAL: interval or "", TAG_CANARY_N: str(n)}
    client = tracking.client()
    for key, value in tags.items():
        client.set_model_version_tag(tracking.model_name, challenger, key, value)
