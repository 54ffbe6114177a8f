"""The gateway's upstream."""
