"""The garbage collector's tuning lasts exactly as long as the app serves (gateway.collector)."""

from __future__ import annotations

import gc
import warnings

from starlette.exceptions import StarletteDeprecationWarning

from gateway.app import build_app
from gateway.catalog import Catalog, IndexedCatalog
from gateway.collector import YOUNG_THRESHOLD
from gateway.config import Config
from gateway.http.auth import KeyStore

with warnings.catch_warnings(action="ignore", category=StarletteDeprecationWarning):
    # starlette 1.10 warns on import when only httpx (not httpx2) is installed.
    from starlette.testclient import TestClient


def serve_once() -> None:
    config = Config(catalog="c.yaml", keys="k.yaml", ledger_url=None)
    app = build_app(config, IndexedCatalog(Catalog(engines={}, models=[])), KeyStore({}))
    frozen_before = gc.get_freeze_count()
    with TestClient(app) as client:
        assert client.get("/healthz").status_code == 200
        assert gc.get_threshold()[0] == YOUNG_THRESHOLD
        assert gc.get_freeze_count() > frozen_before


def test_while_the_app_serves_start_up_objects_are_frozen_and_young_collections_rarer() -> None:
    gc.unfreeze()  # whatever an earlier test left frozen
    threshold = gc.get_threshold()
    serve_once()
    assert (gc.get_threshold(), gc.get_freeze_count()) == (threshold, 0)


def test_objects_frozen_before_the_app_started_stay_frozen_after_it_stops() -> None:
    gc.freeze()
    frozen = gc.get_freeze_count()
    try:
        serve_once()
        assert gc.get_freeze_count() >= frozen
    finally:
        gc.unfreeze()
