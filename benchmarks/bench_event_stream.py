"""The file event stream's cost per call as a topic grows: append, read-after-append, quiet read.

Run: ``.venv/bin/python benchmarks/bench_event_stream.py [--code [NAME=]PATH ...] [--calls 20]``

Each ``--code`` is a source tree (this repository by default, named ``mlsys``); give another
checkout, e.g. ``git -C <repo> archive main | tar -x -C /tmp/main-tree`` and
``--code main=/tmp/main-tree --code mlsys=.``, to measure both in one run. Every (tree, size)
pair runs in its own subprocess that imports ``FileEventStream`` from that tree only, so the
trees never mix; sizes run in the outer loop, trees in the inner one, so both see the same load.

In each subprocess: a fresh topic of ``--segments`` existing segments (one event each, written
as the stream writes them, with no index: a topic from before the index), then, in CPU time
(``time.process_time_ns``; the fsync's wait is not CPU) per call:

- ``first_call_us``: the first ``append`` on the topic (the index's one listing, if any);
- ``append_us``: ``append`` of one event, ``--calls`` times in a row;
- ``read_after_append_us``: ``read(after=<the offset before>)`` right after an (untimed)
  append, ``--calls`` times: the serving ``decisions`` producer's consumers' pattern;
- ``quiet_read_us``: ``read`` of the newest event on a folder untouched for 100 ms, after one
  untimed read, ``--calls`` times.

Each figure is ``[median, min, max]`` over the calls. The last line printed is one JSON object:
``{"segments": [...], "calls": n, "load_average": {...}, "<tree>": {"<figure>": [[median, min,
max] per size]}}``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOPIC = "decisions"
FIGURES = ("first_call_us", "append_us", "read_after_append_us", "quiet_read_us")


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _cpu_us(call: Callable[..., object], *args: object) -> float:
    start = time.process_time_ns()
    call(*args)
    return (time.process_time_ns() - start) / 1_000


def _spread(values: list[float]) -> list[float]:
    return [round(statistics.median(values), 1), round(min(values), 1), round(max(values), 1)]


def worker(code: Path, segments: int, calls: int) -> dict[str, list[float]]:
    """Measure the tree ``code`` on a topic of ``segments`` segments (runs in a subprocess)."""
    sys.path.insert(0, str(code))
    from mlsys_assets.resources.event_stream import FileEventStream

    module = sys.modules["mlsys_assets.resources.event_stream"].__file__
    assert Path(module).is_relative_to(code), f"{module} is not from {code}"

    root = Path(tempfile.mkdtemp(prefix="bench_event_stream_"))
    try:
        folder = root / TOPIC
        folder.mkdir()
        for offset in range(1, segments + 1):
            name = f"{offset:012d}-{offset:012d}.jsonl"
            (folder / name).write_text(f'{{"offset":{offset},"n":{offset}}}\n')
        stream = FileEventStream(root=str(root))
        event = [{"n": 0, "request_id": "r" * 32, "score": 0.5}]

        first = _cpu_us(stream.append, TOPIC, event)
        appends = [_cpu_us(stream.append, TOPIC, event) for _ in range(calls)]
        reads = []
        for _ in range(calls):
            (offset,) = stream.append(TOPIC, event)
            reads.append(_cpu_us(stream.read, TOPIC, offset - 1))
            assert [e.offset for e in stream.read(TOPIC, after=offset - 1)] == [offset]
        time.sleep(0.1)
        stream.read(TOPIC, after=offset - 1)
        quiet = [_cpu_us(stream.read, TOPIC, offset - 1) for _ in range(calls)]
        assert stream.last_offset(TOPIC) == offset == segments + 1 + 2 * calls
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return {
        "first_call_us": [round(first, 1)] * 3,
        "append_us": _spread(appends),
        "read_after_append_us": _spread(reads),
        "quiet_read_us": _spread(quiet),
    }


def _tree(spec: str) -> tuple[str, Path]:
    name, _, path = spec.rpartition("=")
    folder = Path(path).resolve()
    if not (folder / "mlsys_assets" / "resources" / "event_stream.py").exists():
        raise SystemExit(f"--code {spec}: no mlsys_assets/resources/event_stream.py there")
    return name or folder.name, folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--code", action="append", help="[NAME=]PATH of a source tree")
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--segments", default="100,10000,50000", help="comma-separated sizes")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    sizes = [int(x) for x in args.segments.split(",")]
    if args.worker:
        print(json.dumps(worker(Path(args.worker), sizes[0], args.calls)))
        return

    trees = dict(_tree(spec) for spec in args.code or [f"mlsys={ROOT}"])
    before = load_average()
    result: dict = {"segments": sizes, "calls": args.calls}
    figures: dict[str, dict[str, list]] = {name: {f: [] for f in FIGURES} for name in trees}
    for size in sizes:
        for name, code in trees.items():
            done = subprocess.run(
                [sys.executable, __file__, "--worker", str(code), "--segments", str(size)]
                + ["--calls", str(args.calls)],
                cwd=code,
                capture_output=True,
                text=True,
                check=True,
            )
            measured = json.loads(done.stdout.strip().splitlines()[-1])
            for figure in FIGURES:
                figures[name][figure].append(measured[figure])
            print(
                f"{name:>8} {size:>6} segments: "
                + ", ".join(f"{f} {measured[f][0]:,.0f}" for f in FIGURES)
                + f"  (load {load_average()})",
                flush=True,
            )
    result["load_average"] = {"before": before, "after": load_average()}
    result |= figures
    print(json.dumps(result))


if __name__ == "__main__":
    main()
