"""Prometheus metrics of every request outcome (`observer`), with bounded labels (`labels`),
served on a port of their own (`exposure`), summed over workers (`directory`).

Imports nothing: prometheus_client must be imported only after `directory` set up the
multiprocess directory."""
