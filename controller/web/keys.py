"""Typed application keys, every one declared here once; set by ``create_app`` before start-up, never reassigned."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from controller.floor.floor import Floor
from controller.metrics import Metrics
from controller.settings import Settings
from controller.site import Site
from controller.store import Store
from espace.clock import Clock

if TYPE_CHECKING:  # their modules hold web handlers that read these keys
    from controller.web.auth import Auth
    from controller.web.printing import Printing

SETTINGS = web.AppKey("settings", Settings)
CLOCK = web.AppKey("clock", Clock)  # type: ignore[type-abstract]
STORE = web.AppKey("store", Store)
FLOOR = web.AppKey("floor", Floor)
METRICS = web.AppKey("metrics", Metrics)
SITE = web.AppKey("site", Site)
AUTH: web.AppKey[Auth] = web.AppKey("staff_auth")
PRINTING: web.AppKey[Printing] = web.AppKey("printing")
