"""Conducting a run: the ingest stage plans, hands batches of files to an executor, and writes what
comes back through a sink."""
