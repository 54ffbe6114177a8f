"""The ledger a configuration asks for: its store, spool, prices and bounds."""

from __future__ import annotations

from pathlib import Path

from gateway.catalog import IndexedCatalog
from gateway.config import Config
from gateway.ops.ledger.process import ProcessStore
from gateway.ops.ledger.spool import Spool
from gateway.ops.ledger.store import open_store
from gateway.ops.ledger.url import SqliteTarget, parse_ledger_url
from gateway.ops.ledger.writer import LedgerSettings, LedgerWriter

DEFAULT_POSTGRES_SPOOL = "var/ledger-spool.jsonl"


def ledger_of(config: Config, base: Path, catalog: IndexedCatalog) -> LedgerWriter | None:
    """None when `ledger_url` is null; relative paths are from `base`, the config's folder."""
    if config.ledger_url is None:
        return None
    tuning = config.ledger
    settings = LedgerSettings(
        buffer_records=tuning.buffer_records,
        batch_records=tuning.batch_records,
        flush_interval_s=tuning.flush_interval_s,
        shutdown_s=tuning.shutdown_s,
    )
    spool = Spool(spool_path(config, config.ledger_url, base), tuning.spool_max_bytes)
    prices = {model_id: model.prices for model_id, model in catalog.models.items()}
    # The inserts run in a process of their own (gateway.ops.ledger.process): in a thread
    # of this one, the database calls' GIL handovers slowed the event loop.
    store = ProcessStore(config.ledger_url, base, open_store(config.ledger_url, base))
    return LedgerWriter(store, spool, prices, settings)


def spool_path(config: Config, url: str, base: Path) -> Path:
    """The configured spool, else one per ledger, so that gateways writing different
    ledgers from one configuration folder never replay each other's rows."""
    if config.ledger_spool is not None:
        return config.path(config.ledger_spool, base).resolve()
    target = parse_ledger_url(url, base)
    if isinstance(target, SqliteTarget):
        return target.path.with_name(f"{target.path.name}.spool.jsonl")
    return (base / DEFAULT_POSTGRES_SPOOL).resolve()
