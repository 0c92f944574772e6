"""Micro-batching of single predictions: requests that arrive together are scored together.

Under concurrent load several ``/predict`` requests are parsed in the same event-loop pass. Each
one parks a future here; one callback on the next pass scores them all with one
``predict_many`` call: one online-store read and one booster call instead of one each. XGBoost's
fixed cost per call (about 80 microseconds on two cores, more than the trees of a row) is paid
once per batch, so throughput rises with load while a lone request waits only one loop pass.
The answers are exactly those of scoring each request alone: same variant, model and rules.
Requests asking for an explanation are scored together too (a batch is all explained or none).
Once every model that may answer has its TreeSHAP tables (``serving/treeshap.py``), explaining
costs about as much as predicting and the batch is scored on the loop like the others: a thread
hop and the GIL's hand-overs cost more than that (c8 explained throughput went from 54% to 58-67%
of plain in alternating rounds). Until then (the first explained request of a model builds its tables, 0.4 s; a model
the tables do not handle is explained by XGBoost's ``pred_contribs``, about 1 ms a flight) they go
to a worker thread, one batch at a time, those arriving meanwhile making the next batch, and the
loop keeps answering the others.

gRPC calls need one more thing. grpc.aio accepts one call per loop pass (its accept loop awaits
each call in turn, a few passes each), so the eight calls of a c8 burst reach the batcher a pass
or two apart, about 150 microseconds each: scored as they come, every call is a batch of one.
The gRPC servicer announces each call it accepts (``announce``) and says when it is answered
(``settled``). While calls keep being announced (one at most ``LINGER_GAP`` ago), the pending ones
wait for them, at most ``LINGER_MAX`` after the first; but only when the previous round had
several calls in the server at once, so a lone client's call is scored on the next pass.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from typing import NamedTuple

from serving.pipeline import InferencePipeline
from serving.schemas import FlightRequest, Prediction

logger = logging.getLogger(__name__)

MAX_BATCH = 64  # a burst larger than this is scored in several calls, in arrival order
LINGER_GAP = 0.0003  # announced calls this close together belong to one burst
LINGER_MAX = 0.0015  # the longest the first call of a burst waits for the rest


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
        self._first = 0.0  # when the oldest pending request arrived
        self._last_seen = 0.0  # when a call was last announced or arrived
        self._inside = 0  # announced calls not settled yet
        self._peak = 0  # the most announced calls inside at once since the last scoring
        self._concurrent = False  # several at once in the round before: lingering pays
        self._explaining = False  # an explained batch is being scored in the worker thread
        self._to_explain: list[Pending] = []  # explained requests waiting for it to finish

    def announce(self) -> None:
        """A server accepted a call that will come here (gRPC ModelInfer), a pass or two away."""
        self._inside += 1
        self._peak = max(self._peak, self._inside)
        self._last_seen = time.perf_counter()

    def settled(self) -> None:
        """An announced call was answered (or refused)."""
        self._inside = max(self._inside - 1, 0)

    async def predict(
        self, request: FlightRequest, explain: bool = False, endpoint: str = "predict"
    ) -> Prediction:
        """The answer for one flight, scored with whatever else arrived in the same pass."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Prediction] = loop.create_future()
        self._pending.append(Pending(request, future, endpoint, explain))
        self._last_seen = time.perf_counter()
        if not self._scheduled:
            self._scheduled = True
            self._first = self._last_seen
            loop.call_soon(self._score_pending)
        return await future

    def _lingers(self) -> bool:
        """Wait one more pass for the announced calls of this burst?"""
        now = time.perf_counter()
        return (
            self._concurrent
            and now - self._last_seen < LINGER_GAP
            and now - self._first < LINGER_MAX
            and len(self._pending) < self.max_batch
        )

    def _score_pending(self) -> None:
        loop = asyncio.get_running_loop()
        if self._lingers():
            loop.call_soon(self._score_pending)
            return
        self._scheduled = False
        self._concurrent, self._peak = self._peak > 1, self._inside
        pending, self._pending = self._pending, []
        explained = [item for item in pending if item.explain]
        if explained and not self.pipeline.explains_cheaply():
            self._to_explain.extend(explained)
            pending = [item for item in pending if not item.explain]
            self._explain_next()
        for batch in self._batches(pending):
            requests = [item.request for item in batch]
            endpoint, explain = batch[0].endpoint, batch[0].explain
            try:
                answers = self.pipeline.predict_many(requests, endpoint, explain)
            except Exception as exc:  # noqa: BLE001 - each caller gets the error (a 503)
                _fail(batch, exc)
                continue
            _answer(batch, answers)

    def _explain_next(self) -> None:
        """Explained requests go to the worker thread one batch at a time: those arriving
        meanwhile wait and go together next (several threads at once would each score a
        request or two, paying the lookup and the booster's fixed cost for each, and contend
        for the GIL)."""
        if self._explaining or not self._to_explain:
            return
        waiting, self._to_explain = self._to_explain, []
        batches = self._batches(waiting)
        batch, rest = batches[0], [item for later in batches[1:] for item in later]
        self._to_explain = rest + self._to_explain
        self._explaining = True
        work = asyncio.get_running_loop().run_in_executor(
            None, self._explain, [i.request for i in batch], batch[0].endpoint
        )
        work.add_done_callback(functools.partial(self._explained, batch))

    def _explain(self, requests: list[FlightRequest], endpoint: str) -> list[Prediction]:
        self.pipeline.prepare_explaining()  # later explained batches: on the loop
        return self.pipeline.predict_many(requests, endpoint, True)

    def _explained(self, batch: list[Pending], work: asyncio.Future[list[Prediction]]) -> None:
        self._explaining = False
        _settle(batch, work)
        self._explain_next()

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
