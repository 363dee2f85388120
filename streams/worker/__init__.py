"""The Faust worker: the only package that imports Faust (see ``app``)."""

from .app import create_app, own_topics, run_worker

__all__ = ["create_app", "own_topics", "run_worker"]
