"""The controller's SQLite store: one writer thread, readers in threads, migrations."""

from controller.store.store import Store, StoreError, StoreOpenError, check_path, run_with_store

__all__ = ["Store", "StoreError", "StoreOpenError", "check_path", "run_with_store"]
