"""The stream tests compare with the feature tests' warehouse (built once per session)."""

from tests.features.conftest import base_conn, base_warehouse

__all__ = ["base_conn", "base_warehouse"]
