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


def test_while_the_app_serves_start_up_objects_are_frozen_and_young_collections_rarer() -> None:
    before = gc.get_threshold(), gc.get_freeze_count()
    config = Config(catalog="c.yaml", keys="k.yaml", ledger_url=None)
    app = build_app(config, IndexedCatalog(Catalog(engines={}, models=[])), KeyStore({}))
    with TestClient(app) as client:
        assert client.get("/healthz").status_code == 200
        assert gc.get_threshold()[0] == YOUNG_THRESHOLD
        assert gc.get_freeze_count() > before[1]
    assert (gc.get_threshold(), gc.get_freeze_count()) == before
