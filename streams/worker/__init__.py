"""The Faust worker: the only package that imports Faust (see ``app``)."""

from .app import create_app, run_worker

__all__ = ["create_app", "run_worker"]
