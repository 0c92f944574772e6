"""mlsys: a production ML platform built as a Dagster asset graph."""
