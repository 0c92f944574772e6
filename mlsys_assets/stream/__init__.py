"""The stream processor (``mlsys stream``): events to the online store within a second.

``sources.py`` turns each topic's events into raw rows (through the same contract ingestion
applies); ``processor.py`` consumes the topics with a committed cursor and writes the views they
feed, computed by the feature layer's own definitions (``features/streaming.py``);
``freshness.py`` measures event -> visible online.
"""

from mlsys_assets.stream.processor import StreamProcessor

__all__ = ["StreamProcessor"]
