"""Any bytes of a landing CSV -> its header, its well-formed rows, and a reason for every other
line: the careful reader for files the fast path (one DuckDB ``read_csv`` per group of files)
cannot or should not take.

A landing file is sent by someone else: it may hold bytes that are not UTF-8, binary garbage, NUL
bytes, rows cut short, or nothing at all. Each physical line is judged on its own, so one bad line
never costs its neighbours their place, and every line is accounted for (reconciliation counts
rows, so a broken file counts each line it had). What a bad line echoes into the quarantine is a
bounded excerpt, never megabytes.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field

MAX_EXCERPT = 500  # characters of a bad line kept in the quarantine
MAX_RECORD = 4_000  # characters of any quarantined record (JSON text)
_CONTROL = "".join(chr(c) for c in range(32) if chr(c) not in "\t")


@dataclass
class LandingLines:
    """What the careful reader made of one file."""

    header: list[str]
    rows: list[list[str | None]] = field(default_factory=list)  # as many fields as the header
    bad: list[tuple[str, str]] = field(default_factory=list)  # (reason, record JSON) per line
    problem: str | None = None  # the whole file is unusable (empty, header unreadable)


def needs_care(data: bytes) -> bool:
    """True unless the bytes are non-empty UTF-8 without NUL (what the fast path handles)."""
    if not data or b"\x00" in data:
        return True
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def excerpt(raw: bytes | str) -> str:
    """Printable, bounded text of some bytes (undecodable ones as ``\\xNN``)."""
    text = raw.decode("utf-8", errors="backslashreplace") if isinstance(raw, bytes) else raw
    text = text.encode("unicode_escape").decode("ascii") if _has_control(text) else text
    if len(text) <= MAX_EXCERPT:
        return text
    return f"{text[:MAX_EXCERPT]}... ({len(text)} characters)"


def bounded_record(record: str) -> str:
    """A quarantined record as JSON text, cut to an excerpt when it is too long."""
    if len(record) <= MAX_RECORD:
        return record
    return json.dumps({"excerpt": excerpt(record), "length": len(record)})


def _has_control(text: str) -> bool:
    return any(ch in _CONTROL for ch in text)


def read_lines(data: bytes) -> LandingLines:
    """Judge every line of a landing CSV; empty fields are None (as DuckDB reads them)."""
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    lines = [line.removesuffix(b"\r") for line in lines]
    if not lines:
        return LandingLines(header=[], problem="empty file: no header and no rows")
    try:
        header = next(csv.reader([lines[0].decode("utf-8")]), [])
    except (UnicodeDecodeError, csv.Error) as exc:
        out = LandingLines(header=[], problem=f"header line is unreadable ({exc})")
        out.bad = [(out.problem or "", _line_record(n, line)) for n, line in _numbered(lines)]
        return out
    out = LandingLines(header=header)
    for number, line in _numbered(lines[1:], start=2):
        if not line.strip():
            continue
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            reason = f"line {number} is not UTF-8 ({exc.reason} at byte {exc.start})"
            out.bad.append((reason, _line_record(number, line)))
            continue
        try:
            fields = next(csv.reader([text]), [])
        except csv.Error as exc:
            out.bad.append((f"line {number} is not CSV ({exc})", _line_record(number, line)))
            continue
        if len(fields) != len(header):
            reason = (
                f"line {number} has {len(fields)} fields, the header {len(header)} "
                "(truncated or malformed row)"
            )
            out.bad.append((reason, _line_record(number, line)))
            continue
        out.rows.append([value if value != "" else None for value in fields])
    return out


def _numbered(lines: list[bytes], start: int = 1) -> list[tuple[int, bytes]]:
    return list(enumerate(lines, start=start))


def _line_record(number: int, line: bytes) -> str:
    return json.dumps({"line": number, "excerpt": excerpt(line), "bytes": len(line)})
