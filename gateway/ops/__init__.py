"""Operating the gateway: what operators see and bill from.

Each piece attaches to the request path through gateway.observe's observers
(one `RequestOutcome` per answered request) and has a module of its own:
request ids, the usage ledger, metrics, the access log, health and readiness.
"""
