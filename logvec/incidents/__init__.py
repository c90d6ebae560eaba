"""Incidents: anomalies grouped by time and relatedness, each with a signature to find similar past ones.

`grouping` groups and describes, `signature` places an incident among the others and ranks them, `tracker`
keeps them up to date from the store while the pipeline runs (and rebuilds them).
"""

from logvec.incidents.incident import Anomaly, Incident

__all__ = ["Anomaly", "Incident"]
