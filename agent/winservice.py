"""``espace-agent service`` as a real Windows service, answering the Service Control Manager.

The installer registers the service with the command line ``python.exe -m agent.cli service
--config C:\\ProgramData\\Espace\\agent.toml`` (the venv's base interpreter, the venv's
site-packages on the service's PYTHONPATH: see :func:`site_dirs_from_pythonpath`); :func:`agent.cli.cmd_service` hands its
service coroutine to :func:`run_service`, which

* under the SCM (``StartServiceCtrlDispatcher`` succeeds): hosts :func:`service_class`'s
  ``ServiceFramework`` subclass with pywin32's ``servicemanager``. ``SvcDoRun`` runs the
  coroutine on its own asyncio loop (the ProactorEventLoop, which the control pipe needs);
  ``SvcStop`` and ``SvcShutdown`` report STOP_PENDING with a wait hint and set the
  coroutine's stop event from the SCM's thread, and the coroutine ends the way it does on
  SIGTERM under systemd: the control channel closes, the agent stops its tasks and the
  outbox is closed (every event in it was committed when it was queued, so nothing is
  lost). An error that ends the coroutine is written to the Application event log and
  re-raised: the framework then reports SERVICE_STOPPED with an error code, and the
  failure actions the installer sets (``sc failure``, ``sc failureflag 1``) restart it;
* from a console (error 1063: the SCM did not start this process -- an IT person trying
  the configuration by hand): runs the same coroutine until Ctrl+C.

Under the SCM the process has no console: logs also go to ``agent.log`` in the state folder
(rotated, 10 MB x 3).
"""

from __future__ import annotations

import asyncio
import logging
import logging.handlers
import os
import site
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

SERVICE_NAME = "EspaceAgent"
DISPLAY_NAME = "Espace station agent"
DESCRIPTION = "Espace: sessions, reset, printing and health of this public PC"
STOP_WAIT_HINT_MS = 30_000  # the agent's stop: close the channel, end its tasks, close the outbox
ERROR_FAILED_SERVICE_CONTROLLER_CONNECT = 1063

ServiceMain = Callable[[asyncio.Event], Awaitable[None]]


class StopSignal:
    """A stop request from any thread (the SCM's handler) to the service's asyncio loop."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requested = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._event: asyncio.Event | None = None

    def bind(self) -> asyncio.Event:
        """The event the service coroutine waits on; call inside its loop."""
        event = asyncio.Event()
        with self._lock:
            self._loop, self._event = asyncio.get_running_loop(), event
            if self._requested:  # the SCM asked to stop before the loop was up
                event.set()
        return event

    def request(self) -> None:
        with self._lock:
            self._requested = True
            loop, event = self._loop, self._event
        if loop is not None and event is not None and not loop.is_closed():
            loop.call_soon_threadsafe(event.set)

    @property
    def requested(self) -> bool:
        return self._requested


def service_class(main: ServiceMain, log_file: Path | None = None) -> type[Any]:
    """The ``ServiceFramework`` subclass that runs ``main`` (pywin32 imported here, on Windows only)."""
    import servicemanager
    import win32service
    import win32serviceutil

    class EspaceAgentService(win32serviceutil.ServiceFramework):
        _svc_name_ = SERVICE_NAME
        _svc_display_name_ = DISPLAY_NAME
        _svc_description_ = DESCRIPTION

        def __init__(self, args: Any) -> None:
            super().__init__(args)
            self.stop_signal = StopSignal()

        def SvcDoRun(self) -> None:  # noqa: N802 - pywin32's names
            handler = _file_logging(log_file)
            servicemanager.LogInfoMsg(f"{SERVICE_NAME}: starting")
            try:
                asyncio.run(self._serve())
            except BaseException as exc:
                log.exception("service: stopped on an error")
                servicemanager.LogErrorMsg(f"{SERVICE_NAME}: stopped on an error: {exc!r}")
                raise  # SERVICE_STOPPED with an error code: the SCM's failure actions restart us
            finally:
                if handler is not None:
                    logging.getLogger().removeHandler(handler)
                    handler.close()
            servicemanager.LogInfoMsg(f"{SERVICE_NAME}: stopped")

        async def _serve(self) -> None:
            await main(self.stop_signal.bind())
            if not self.stop_signal.requested:
                raise RuntimeError("the agent service ended without being asked to stop")

        def SvcStop(self) -> None:  # noqa: N802
            self.ReportServiceStatus(win32service.SERVICE_STOP_PENDING, waitHint=STOP_WAIT_HINT_MS)
            log.info("service: stop asked by the Service Control Manager")
            self.stop_signal.request()

        def SvcShutdown(self) -> None:  # noqa: N802 - Windows shuts down: the same clean stop
            self.SvcStop()

    return EspaceAgentService


def _file_logging(path: Path | None) -> logging.Handler | None:
    if path is None:
        return None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.handlers.RotatingFileHandler(path, maxBytes=10 * 1024 * 1024, backupCount=3, encoding="utf-8")
    except OSError as exc:
        log.warning("service: cannot log to %s: %s", path, exc)
        return None
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.getLogger().addHandler(handler)
    return handler


def event_log_error(message: str) -> None:
    """Write ``message`` to the Application event log (source EspaceAgent); never raises."""
    try:
        site_dirs_from_pythonpath()
        import servicemanager

        servicemanager.SetEventSourceName(SERVICE_NAME)
        servicemanager.LogErrorMsg(f"{SERVICE_NAME}: {message}")
    except Exception as exc:  # noqa: BLE001 - the message is on stderr too
        log.warning("service: could not write to the event log: %s", exc)


def site_dirs_from_pythonpath() -> None:
    """Process the ``.pth`` files of the folders on PYTHONPATH.

    The service runs the venv's base interpreter with the venv's site-packages on PYTHONPATH
    (the installer sets it in the service's environment). PYTHONPATH entries are importable
    but their ``.pth`` files are not read; pywin32's (``pywin32.pth``) puts its ``win32``
    folders on ``sys.path`` and its DLL folder on the DLL search path.
    """
    for entry in os.environ.get("PYTHONPATH", "").split(os.pathsep):
        if entry and os.path.isdir(entry):
            site.addsitedir(entry)


def run_service(main: ServiceMain, log_file: Path | None = None) -> int:
    """Serve ``main`` to the SCM if it started this process; otherwise run it here until Ctrl+C."""
    site_dirs_from_pythonpath()
    import pywintypes
    import servicemanager

    servicemanager.Initialize()
    servicemanager.PrepareToHostSingle(service_class(main, log_file))
    try:
        servicemanager.StartServiceCtrlDispatcher()  # returns when the service has stopped
    except pywintypes.error as exc:
        if exc.winerror != ERROR_FAILED_SERVICE_CONTROLLER_CONNECT:
            raise
        log.info("service: not started by the Service Control Manager; running in this console (Ctrl+C stops)")
        from agent.signals import stop_on_signals

        async def console() -> None:
            stop = asyncio.Event()
            stop_on_signals(stop)
            await main(stop)

        asyncio.run(console())
    return 0
