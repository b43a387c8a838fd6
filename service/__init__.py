"""The officer service: a FastAPI app over the hit store and the trail store (see app.py)."""
