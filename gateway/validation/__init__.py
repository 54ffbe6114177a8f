"""The gateway's validation."""
