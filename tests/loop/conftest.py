"""The loop's tests reuse the ingestion fixtures (a replayed landing zone with faults)."""

from tests.ingestion.conftest import faulty_source  # noqa: F401  (a fixture)
