"""Online serving: the FastAPI app around the inference pipeline (see ``serving.app``)."""
