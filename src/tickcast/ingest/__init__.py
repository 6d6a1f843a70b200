"""Ingest: vendor messages in, normalised ticks out."""
