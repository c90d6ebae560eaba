"""logvec: turn log lines into vectors, flag the anomalous ones, and find similar past incidents."""

__version__ = "0.1.0"
