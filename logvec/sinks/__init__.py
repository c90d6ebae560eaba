"""Sinks besides the vector store: dead letters and anomaly alerts (Kafka topics)."""
