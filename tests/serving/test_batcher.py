"""Micro-batching: single predictions that arrive together are scored in one call, same answers."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

from fastapi.testclient import TestClient

from serving.batcher import MicroBatcher
from serving.pipeline import InferencePipeline
from serving.schemas import FlightRequest, Prediction
from tests.serving.world import World, flight_requests


class CountingPipeline:
    """The real pipeline, recording how many flights each call scored (and, in ``threads``,
    whether explained and in which thread)."""

    def __init__(self, pipeline: InferencePipeline) -> None:
        self.pipeline = pipeline
        self.calls: list[int] = []
        self.threads: list[tuple[bool, int]] = []

    def predict_many(
        self, requests: Sequence[FlightRequest], endpoint: str, explain: bool = False
    ) -> list[Prediction]:
        self.calls.append(len(requests))
        self.threads.append((explain, threading.get_ident()))
        return self.pipeline.predict_many(requests, endpoint, explain)

    def explains_cheaply(self) -> bool:
        return self.pipeline.explains_cheaply()

    def prepare_explaining(self) -> None:
        self.pipeline.prepare_explaining()


def test_a_burst_is_scored_in_few_calls_with_the_answers_of_each_alone(
    shared_client: TestClient, shared_world: World
) -> None:
    pipeline = shared_client.app.state.services.pipeline
    requests = flight_requests(shared_world, 40, "mb-")
    alone = [pipeline.predict(r) for r in requests]
    counting = CountingPipeline(pipeline)
    batcher = MicroBatcher(counting, max_batch=16)  # type: ignore[arg-type]

    async def burst() -> list[Prediction]:
        return await asyncio.gather(*(batcher.predict(r) for r in requests))

    together = asyncio.run(burst())
    assert counting.calls == [16, 16, 8]  # one loop pass, split at max_batch, in arrival order
    assert [p.model_dump() for p in together] == [p.model_dump() for p in alone]


def test_requests_apart_are_scored_alone(shared_client: TestClient, shared_world: World) -> None:
    counting = CountingPipeline(shared_client.app.state.services.pipeline)
    batcher = MicroBatcher(counting)  # type: ignore[arg-type]

    async def one_by_one() -> list[Prediction]:
        return [await batcher.predict(r) for r in flight_requests(shared_world, 3, "mb-")]

    answers = asyncio.run(one_by_one())
    assert counting.calls == [1, 1, 1]
    assert [a.request_id for a in answers] == ["mb-0", "mb-1", "mb-2"]


def test_a_failing_batch_fails_each_of_its_requests(shared_world: World) -> None:
    class Broken:
        def predict_many(
            self, requests: Sequence[FlightRequest], endpoint: str, explain: bool = False
        ) -> list:
            raise RuntimeError("boom")

    batcher = MicroBatcher(Broken())  # type: ignore[arg-type]

    async def burst() -> list[object]:
        requests = flight_requests(shared_world, 3, "mb-")
        return await asyncio.gather(*(batcher.predict(r) for r in requests), return_exceptions=True)

    assert [type(e) for e in asyncio.run(burst())] == [RuntimeError] * 3


def test_announced_calls_a_loop_pass_apart_are_scored_together(
    shared_client: TestClient, shared_world: World
) -> None:
    """grpc.aio hands over the calls of a burst one loop pass apart; announced, they wait for one
    another (once a round has shown several calls at once) and get the answers of each alone."""
    pipeline = shared_client.app.state.services.pipeline
    requests = flight_requests(shared_world, 8, "mbg-")
    alone = [pipeline.predict(r) for r in requests]
    counting = CountingPipeline(pipeline)
    batcher = MicroBatcher(counting)  # type: ignore[arg-type]

    async def call(request: FlightRequest) -> Prediction:
        try:
            return await batcher.predict(request, endpoint="v2_grpc")
        finally:
            batcher.settled()

    async def burst(part: list[FlightRequest]) -> list[Prediction]:
        for _ in part:
            batcher.announce()
        calls = []
        for request in part:  # one loop pass apart, like grpc.aio
            calls.append(asyncio.ensure_future(call(request)))
            await asyncio.sleep(0)
        return await asyncio.gather(*calls)

    async def two_bursts() -> list[Prediction]:
        return await burst(requests[:4]) + await burst(requests[4:])

    together = asyncio.run(two_bursts())
    assert counting.calls[-1] == 4  # the second burst: one call
    assert [p.model_dump() for p in together] == [p.model_dump() for p in alone]


def test_explained_requests_are_scored_on_the_loop_once_the_models_tables_are_built(
    client: TestClient, world: World
) -> None:
    """The first explained batch goes to a worker thread, which builds the TreeSHAP tables
    (0.4 s: not on the loop); the later ones are scored on the loop like plain ones."""
    counting = CountingPipeline(client.app.state.services.pipeline)
    batcher = MicroBatcher(counting)  # type: ignore[arg-type]
    requests = flight_requests(world, 6, "ex-")
    assert not counting.explains_cheaply()  # a model just loaded: no tables yet

    async def explained(part: list[FlightRequest]) -> list[Prediction]:
        return await asyncio.gather(*(batcher.predict(r, explain=True) for r in part))

    async def two_bursts() -> list[Prediction]:
        return await explained(requests[:3]) + await explained(requests[3:])

    answers = asyncio.run(two_bursts())  # its loop runs in this thread
    loop = threading.get_ident()
    assert [(explain, thread == loop) for explain, thread in counting.threads] == [
        (True, False),
        (True, True),
    ]
    assert counting.calls == [3, 3] and counting.explains_cheaply()
    assert all(answer.explanation is not None for answer in answers)  # type: ignore[attr-defined]
