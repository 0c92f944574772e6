"""Downstream systems: what follows serving's outbound ``decisions`` stream."""
