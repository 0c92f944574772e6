"""Which variant answers a request: a stable hash of its request id against the canary share.

The hash (not a random draw) makes the choice sticky: the same request id always gets the same
variant, in every worker and after every restart, so a client's retries and a replayed log
meet the model that answered first.
"""

from __future__ import annotations

import hashlib
from typing import Literal

Variant = Literal["champion", "challenger", "fallback"]
CHAMPION: Variant = "champion"
CHALLENGER: Variant = "challenger"
FALLBACK: Variant = "fallback"
SHADOW = "shadow"  # a logged-only score by the challenger, never an answer (pipeline.py)

_SCALE = float(2**64)


def bucket(request_id: str) -> float:
    """A uniform, deterministic number in [0, 1) for a request id."""
    digest = hashlib.blake2b(request_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / _SCALE


def choose_variant(request_id: str, canary_share: float, has_challenger: bool) -> Variant:
    """``challenger`` for ``canary_share`` of request ids when one is loaded, else ``champion``."""
    if has_challenger and canary_share > 0.0 and bucket(request_id) < canary_share:
        return CHALLENGER
    return CHAMPION
