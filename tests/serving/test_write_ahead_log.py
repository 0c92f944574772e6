"""The log's write-ahead files: a process killed with SIGKILL loses no synced record, and the
next process to start replays them into Parquet exactly once."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pyarrow.parquet as pq

from serving.prediction_log import FEEDBACK_SCHEMA, ParquetLog


def _log(root: Path) -> ParquetLog:
    return ParquetLog(root / "log", FEEDBACK_SCHEMA, flush_rows=10**6, flush_seconds=3600,
                      max_pending=10**6, wal_directory=root / "wal")  # fmt: skip


def _die_after(root: Path, steps: str) -> None:
    """Run ``steps`` on a started log in a child process that then kills itself (SIGKILL)."""
    script = (
        textwrap.dedent(f"""
        import os, signal, shutil
        from pathlib import Path
        from tests.serving.test_write_ahead_log import _log
        log = _log(Path({str(root)!r}))
        log.start()
        def add(*ids):
            for rid in ids:
                log.append({{"request_id": rid, "arr_delay": 1.0}})
    """)
        + textwrap.dedent(steps)
        + "\nos.kill(os.getpid(), signal.SIGKILL)\n"
    )
    child = subprocess.run([sys.executable, "-c", script], cwd=Path.cwd(), timeout=120)
    assert child.returncode == -9


def _ids(root: Path) -> list[str]:
    files = sorted((root / "log").rglob("*.parquet"))
    return sorted(rid for f in files for rid in pq.read_table(f).column("request_id").to_pylist())


def _wal_files(root: Path) -> list[str]:
    return sorted(p.name for p in (root / "wal").iterdir())


def test_synced_records_of_a_killed_process_are_replayed_once(tmp_path: Path) -> None:
    _die_after(
        tmp_path,
        """
        add("flushed-1", "flushed-2")
        log.flush()
        add("synced-1", "synced-2")
        log.sync()
        add("never-synced")
    """,
    )
    assert _ids(tmp_path) == ["flushed-1", "flushed-2"]
    assert len(_wal_files(tmp_path)) == 2  # the dead owner's lock and its open segment

    survivor = _log(tmp_path)
    survivor.start()
    survivor.close()
    assert _ids(tmp_path) == ["flushed-1", "flushed-2", "synced-1", "synced-2"]
    assert _wal_files(tmp_path) == []  # replayed segments and the dead lock are gone

    again = _log(tmp_path)
    again.start()
    again.close()
    assert _ids(tmp_path) == ["flushed-1", "flushed-2", "synced-1", "synced-2"]


def test_a_death_between_the_parquet_write_and_the_segment_removal_doubles_nothing(
    tmp_path: Path,
) -> None:
    # The segment is put back after its flush: on disk, as if the process died just before
    # removing it.
    _die_after(
        tmp_path,
        """
        add("a", "b")
        log.sync()
        segment = next(Path(log._wal.directory).glob("*.arrows"))
        shutil.copy(segment, segment.with_suffix(".keep"))
        log.flush()
        os.replace(segment.with_suffix(".keep"), segment)
    """,
    )
    assert _ids(tmp_path) == ["a", "b"]
    survivor = _log(tmp_path)
    survivor.start()
    survivor.close()
    assert _ids(tmp_path) == ["a", "b"]
    assert _wal_files(tmp_path) == []


def test_a_torn_tail_keeps_the_batches_before_it(tmp_path: Path) -> None:
    _die_after(
        tmp_path,
        """
        add("first")
        log.sync()
        add("second")
        log.sync()
        segment = next(Path(log._wal.directory).glob("*.arrows"))
        with open(segment, "ab") as f:
            f.write(b"\\xff\\xff\\xff\\xff\\x10\\x00")  # a batch cut short by the kill
    """,
    )
    survivor = _log(tmp_path)
    survivor.start()
    survivor.close()
    assert _ids(tmp_path) == ["first", "second"]


def test_a_live_processs_segments_are_left_alone(tmp_path: Path) -> None:
    alive = _log(tmp_path)
    alive.start()
    alive.append({"request_id": "live", "arr_delay": 2.0})
    alive.sync()
    other = _log(tmp_path)
    other.start()  # tries the live owner's lock, and leaves its segment
    assert _ids(tmp_path) == []
    assert any(name.endswith(".arrows") for name in _wal_files(tmp_path))
    other.close()
    alive.close()
    assert _ids(tmp_path) == ["live"]
    assert _wal_files(tmp_path) == []


def test_the_writer_thread_syncs_within_the_window(tmp_path: Path) -> None:
    log = ParquetLog(tmp_path / "log", FEEDBACK_SCHEMA, flush_rows=10**6, flush_seconds=3600,
                     max_pending=10**6, wal_directory=tmp_path / "wal",
                     sync_seconds=0.2)  # fmt: skip
    log.start()
    try:
        log.append({"request_id": "x", "arr_delay": 3.0})
        segment = log._wal.segment_path(0)  # type: ignore[union-attr]
        for _ in range(40):
            if segment.exists() and segment.stat().st_size > 0:
                break
            time.sleep(0.05)
        assert segment.stat().st_size > 0
        assert _ids(tmp_path) == []  # durable, not yet flushed
    finally:
        log.close()
    assert _ids(tmp_path) == ["x"]


def test_a_segment_written_before_a_field_was_added_is_read_with_it_null(tmp_path: Path) -> None:
    import pyarrow as pa

    from serving.prediction_log import PREDICTION_SCHEMA
    from serving.wal import read_segment

    older = pa.schema([f for f in PREDICTION_SCHEMA if not f.name.startswith("contribution")])
    path = tmp_path / "old.arrows"
    rows = pa.Table.from_pylist([{"request_id": "r1", "latency_ms": 2.5}], schema=older)
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_stream(sink, older) as writer:
        writer.write_table(rows)
    table = read_segment(path, PREDICTION_SCHEMA)
    assert table.schema.equals(PREDICTION_SCHEMA)
    assert table.column("request_id").to_pylist() == ["r1"]
    assert table.column("contribution_bias").to_pylist() == [None]
