"""Errors shared across stages."""

from __future__ import annotations


class NotFittedError(RuntimeError):
    """A vectorizer or detector used before `fit`."""
