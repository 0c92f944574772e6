"""``mlsys stream [--once]``: the stream processor as a long-running process."""

from __future__ import annotations

import logging
import signal
import threading
import time

import click

from mlsys_assets.settings import get_settings

REPORT_SECONDS = 30.0


@click.command()
@click.option("--once", is_flag=True, help="Process what is waiting, then exit.")
@click.option("--consumer", default="stream-1", show_default=True, help="Consumer name.")
def stream(once: bool, consumer: str) -> None:
    """Consume the event stream and keep the online store current (Ctrl-C stops it)."""
    from mlsys_assets.features.catalog import view_ttl_seconds
    from mlsys_assets.resources.backends import build_event_stream, build_online_store
    from mlsys_assets.stream.processor import Retention, StreamProcessor

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    settings = get_settings()
    processor = StreamProcessor(
        build_event_stream(settings),
        build_online_store(settings, view_ttl_seconds=view_ttl_seconds()),
        consumer=consumer,
        batch_events=settings.features.stream_batch_events,
        retention=Retention.from_settings(settings.features),
    )
    if once:
        click.echo(f"processed {processor.drain()} events")
        return
    stop = threading.Event()

    def stopping(*_: object) -> None:
        stop.set()
        processor.wake()

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, stopping)
    reporter = threading.Thread(target=_report, args=(processor, stop), daemon=True)
    reporter.start()
    click.echo(
        f"stream processor {consumer}: {settings.backends.event_stream} -> {settings.backends.online_store}"
    )
    processor.run(stop, poll_seconds=settings.features.stream_poll_seconds)
    _report_once(processor)
    processor.close()


def _report(processor, stop: threading.Event) -> None:  # noqa: ANN001 - StreamProcessor
    while not stop.wait(REPORT_SECONDS):
        _report_once(processor)


def _report_once(processor) -> None:  # noqa: ANN001 - StreamProcessor
    for topic, stats in processor.stats.items():
        lag = processor.freshness.summary(topic) or {}
        click.echo(
            f"{time.strftime('%H:%M:%S')} {topic}: {stats.events} events "
            f"({stats.rejected} rejected), {stats.rows} online rows, offset {stats.offset}, "
            f"{stats.trimmed} trimmed, "
            f"lag p50 {lag.get('p50_ms', '-')} ms p99 {lag.get('p99_ms', '-')} ms"
        )
