"""The gateway's limits."""
