"""Vector stores: `local` (embedded, the default) here; `opensearch` joins in its own module."""

from __future__ import annotations

from pathlib import Path

from logvec.config import LocalStoreConfig, OpenSearchStoreConfig
from logvec.store.base import Hit, SearchFilters, Store, StoreDimensionError, StoreReader
from logvec.store.local import LocalStore

__all__ = ["Hit", "LocalStore", "SearchFilters", "Store", "StoreDimensionError", "StoreReader", "open_store"]


def open_store(config: LocalStoreConfig | OpenSearchStoreConfig, data_dir: str | Path) -> Store:
    """The store a pipeline's `store` section describes: `local` (embedded) or `opensearch`."""
    if isinstance(config, OpenSearchStoreConfig):
        from logvec.store.opensearch import OpenSearchStore

        return OpenSearchStore(config)
    path = Path(config.path) if config.path else Path(data_dir) / "store"
    return LocalStore(path, ann_threshold=config.ann_threshold, hnsw_m=config.hnsw_m, ef_search=config.ef_search)
