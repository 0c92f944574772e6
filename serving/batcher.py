"""Micro-batching of single predictions: requests that arrive together are scored together.

Under concurrent load several ``/predict`` requests are parsed in the same event-loop pass. Each
one parks a future here; one callback on the next pass scores them all with one
``predict_many`` call: one online-store read and one booster call instead of one each. XGBoost's
fixed cost per call (about 80 microseconds on two cores, more than the trees of a row) is paid
once per batch, so throughput rises with load while a lone request waits only one loop pass.
The answers are exactly those of scoring each request alone: same variant, model and rules.
Requests asking for an explanation are scored together too, but in a worker thread: TreeSHAP
costs about a millisecond per flight in XGBoost's C code, which releases the GIL, so the loop
keeps parsing and answering the others meanwhile.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import NamedTuple

from serving.pipeline import InferencePipeline
from serving.schemas import FlightRequest, Prediction

logger = logging.getLogger(__name__)

MAX_BATCH = 64  # a burst larger than this is scored in several calls, in arrival order


class Pending(NamedTuple):
    request: FlightRequest
    future: asyncio.Future[Prediction]
    endpoint: str
    explain: bool


class MicroBatcher:
    """Collects the single predictions of one loop pass and scores them in one call."""

    def __init__(self, pipeline: InferencePipeline, max_batch: int = MAX_BATCH) -> None:
        self.pipeline = pipeline
        self.max_batch = max_batch
        self._pending: list[Pending] = []
        self._scheduled = False

    async def predict(
        self, request: FlightRequest, explain: bool = False, endpoint: str = "predict"
    ) -> Prediction:
        """The answer for one flight, scored with whatever else arrived in the same pass."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Prediction] = loop.create_future()
        self._pending.append(Pending(request, future, endpoint, explain))
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._score_pending)
        return await future

    def _score_pending(self) -> None:
        self._scheduled = False
        pending, self._pending = self._pending, []
        loop = asyncio.get_running_loop()
        for batch in self._batches(pending):
            requests = [item.request for item in batch]
            endpoint, explain = batch[0].endpoint, batch[0].explain
            if explain:  # off the loop: the C code releases the GIL
                work = loop.run_in_executor(
                    None, self.pipeline.predict_many, requests, endpoint, True
                )
                work.add_done_callback(functools.partial(_settle, batch))
                continue
            try:
                answers = self.pipeline.predict_many(requests, endpoint)
            except Exception as exc:  # noqa: BLE001 - each caller gets the error (a 503)
                _fail(batch, exc)
                continue
            _answer(batch, answers)

    def _batches(self, pending: list[Pending]) -> list[list[Pending]]:
        """In arrival order, at most ``max_batch`` each, one endpoint and explain flag each."""
        groups: dict[tuple[str, bool], list[Pending]] = {}
        for item in pending:
            groups.setdefault((item.endpoint, item.explain), []).append(item)
        return [
            items[start : start + self.max_batch]
            for items in groups.values()
            for start in range(0, len(items), self.max_batch)
        ]


def _answer(batch: list[Pending], answers: list[Prediction]) -> None:
    for item, answer in zip(batch, answers, strict=True):
        if not item.future.done():  # the client may have gone away
            item.future.set_result(answer)


def _fail(batch: list[Pending], exc: BaseException) -> None:
    logger.error("scoring a batch of %d single predictions failed", len(batch), exc_info=exc)
    for item in batch:
        if not item.future.done():
            item.future.set_exception(exc)


def _settle(batch: list[Pending], work: asyncio.Future[list[Prediction]]) -> None:
    if work.cancelled():
        return
    exc = work.exception()
    if exc is not None:
        _fail(batch, exc)
    else:
        _answer(batch, work.result())
