"""The controller's SQLite store: one writer thread, readers in threads, migrations."""

from controller.store.store import Store, StoreError, run_with_store

__all__ = ["Store", "StoreError", "run_with_store"]
