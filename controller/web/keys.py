"""Typed application keys, declared once; set before start-up, never reassigned."""

from __future__ import annotations

from aiohttp import web

from controller.floor.floor import Floor
from controller.metrics import Metrics
from controller.settings import Settings
from controller.store import Store
from espace.clock import Clock

SETTINGS = web.AppKey("settings", Settings)
CLOCK = web.AppKey("clock", Clock)  # type: ignore[type-abstract]
STORE = web.AppKey("store", Store)
FLOOR = web.AppKey("floor", Floor)
METRICS = web.AppKey("metrics", Metrics)
