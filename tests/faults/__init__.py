"""Fault injection: killed workers, lost Redis, a dropped database, a full disk."""
