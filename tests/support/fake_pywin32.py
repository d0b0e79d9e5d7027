"""Fakes of pywin32's service modules (``win32service``, ``win32serviceutil``, ``servicemanager``,
``pywintypes``): the Service Control Manager's seam, for driving :mod:`agent.winservice` on Linux.

``ServiceFramework`` follows pywin32's own (win32/Lib/win32serviceutil.py): the same accepted
controls, checkpoints and control dispatch. :class:`FakeSCM` plays the Service Control Manager
and pythonservice's C host: ``StartServiceCtrlDispatcher`` runs the hosted class's ``SvcRun``
in a thread of its own, as the SCM's ServiceMain thread does, reports SERVICE_STOPPED when it
returns (with an error code if it raised, as the C host does), and :meth:`FakeSCM.control`
sends a control from another thread, as the SCM's handler thread does.
"""

from __future__ import annotations

import sys
import threading
import types
from typing import Any

import pytest

SERVICE_STOPPED, SERVICE_START_PENDING, SERVICE_STOP_PENDING, SERVICE_RUNNING = 1, 2, 3, 4
SERVICE_WIN32_OWN_PROCESS = 0x10
SERVICE_ACCEPT_STOP, SERVICE_ACCEPT_PAUSE_CONTINUE, SERVICE_ACCEPT_SHUTDOWN = 1, 2, 4
SERVICE_CONTROL_STOP, SERVICE_CONTROL_PAUSE, SERVICE_CONTROL_CONTINUE = 1, 2, 3
SERVICE_CONTROL_INTERROGATE, SERVICE_CONTROL_SHUTDOWN = 4, 5
ERROR_SERVICE_SPECIFIC_ERROR = 1066


class PyWinError(Exception):
    def __init__(self, winerror: int, funcname: str, strerror: str) -> None:
        super().__init__(winerror, funcname, strerror)
        self.winerror, self.funcname, self.strerror = winerror, funcname, strerror


class FakeSCM:
    def __init__(self, *, started_by_scm: bool = True) -> None:
        self.started_by_scm = started_by_scm
        self.statuses: list[tuple[int, ...]] = []
        self.messages: list[tuple[str, str]] = []
        self.hosted: type[Any] | None = None
        self.handler: Any = None
        self.running = threading.Event()
        self.stopped = threading.Event()
        self.instance: Any = None

    # win32service
    def SetServiceStatus(self, handle: object, status: tuple[int, ...]) -> None:  # noqa: N802
        self.statuses.append(status)
        if status[1] == SERVICE_RUNNING:
            self.running.set()

    # servicemanager
    def RegisterServiceCtrlHandler(self, name: str, handler: Any, ex: bool) -> object:  # noqa: N802
        self.handler = handler
        return object()

    def StartServiceCtrlDispatcher(self) -> None:  # noqa: N802
        if not self.started_by_scm:
            raise PyWinError(1063, "StartServiceCtrlDispatcher", "The service process could not connect to the service controller.")
        assert self.hosted is not None
        errors: list[BaseException] = []

        def service_main() -> None:
            self.instance = self.hosted([self.hosted._svc_name_])  # type: ignore[misc]
            self.SetServiceStatus(None, (SERVICE_WIN32_OWN_PROCESS, SERVICE_START_PENDING, 0, 0, 0, 1, 3000))
            try:
                self.instance.SvcRun()
            except BaseException as exc:  # noqa: BLE001 - the C host reports it and stops
                errors.append(exc)
            code = ERROR_SERVICE_SPECIFIC_ERROR if errors else 0
            self.SetServiceStatus(None, (SERVICE_WIN32_OWN_PROCESS, SERVICE_STOPPED, 0, code, 1 if errors else 0, 0, 0))
            self.stopped.set()

        thread = threading.Thread(target=service_main, name="ServiceMain")
        thread.start()
        thread.join()

    def control(self, code: int) -> None:
        """The SCM's handler thread delivering a control."""
        done = threading.Thread(target=self.handler, args=(code, 0, None), name="ServiceCtrlHandler")
        done.start()
        done.join()

    def states(self) -> list[int]:
        return [s[1] for s in self.statuses]


def install(monkeypatch: pytest.MonkeyPatch, scm: FakeSCM) -> None:
    """Put the fake modules where ``import win32service`` and friends find them."""
    win32service = types.ModuleType("win32service")
    for name, value in globals().items():
        if name.startswith("SERVICE_"):
            setattr(win32service, name, value)
    win32service.SetServiceStatus = scm.SetServiceStatus  # type: ignore[attr-defined]
    servicemanager = types.ModuleType("servicemanager")
    servicemanager.RegisterServiceCtrlHandler = scm.RegisterServiceCtrlHandler  # type: ignore[attr-defined]
    servicemanager.SetEventSourceName = lambda name: None  # type: ignore[attr-defined]
    servicemanager.Initialize = lambda *a: None  # type: ignore[attr-defined]
    servicemanager.PrepareToHostSingle = lambda cls: setattr(scm, "hosted", cls)  # type: ignore[attr-defined]
    servicemanager.StartServiceCtrlDispatcher = scm.StartServiceCtrlDispatcher  # type: ignore[attr-defined]
    servicemanager.LogInfoMsg = lambda msg: scm.messages.append(("info", msg))  # type: ignore[attr-defined]
    servicemanager.LogErrorMsg = lambda msg: scm.messages.append(("error", msg))  # type: ignore[attr-defined]
    pywintypes = types.ModuleType("pywintypes")
    pywintypes.error = PyWinError  # type: ignore[attr-defined]
    win32serviceutil = types.ModuleType("win32serviceutil")
    win32serviceutil.ServiceFramework = ServiceFramework  # type: ignore[attr-defined]
    for module in (win32service, servicemanager, pywintypes, win32serviceutil):
        monkeypatch.setitem(sys.modules, module.__name__, module)


class ServiceFramework:
    """pywin32's base class, as it is."""

    def __init__(self, args: list[str]) -> None:
        import servicemanager

        self.ssh = servicemanager.RegisterServiceCtrlHandler(args[0], self.ServiceCtrlHandlerEx, True)
        servicemanager.SetEventSourceName(self._svc_name_)  # type: ignore[attr-defined]
        self.checkPoint = 0

    def GetAcceptedControls(self) -> int:  # noqa: N802
        accepted = 0
        if hasattr(self, "SvcStop"):
            accepted |= SERVICE_ACCEPT_STOP
        if hasattr(self, "SvcPause") and hasattr(self, "SvcContinue"):
            accepted |= SERVICE_ACCEPT_PAUSE_CONTINUE
        if hasattr(self, "SvcShutdown"):
            accepted |= SERVICE_ACCEPT_SHUTDOWN
        return accepted

    def ReportServiceStatus(self, serviceStatus: int, waitHint: int = 5000, win32ExitCode: int = 0, svcExitCode: int = 0) -> None:  # noqa: N802, N803
        import win32service

        accepted = 0 if serviceStatus == SERVICE_START_PENDING else self.GetAcceptedControls()
        if serviceStatus in (SERVICE_RUNNING, SERVICE_STOPPED):
            check_point = 0
        else:
            self.checkPoint += 1
            check_point = self.checkPoint
        win32service.SetServiceStatus(  # type: ignore[attr-defined]
            self.ssh, (SERVICE_WIN32_OWN_PROCESS, serviceStatus, accepted, win32ExitCode, svcExitCode, check_point, waitHint)
        )

    def SvcInterrogate(self) -> None:  # noqa: N802
        self.ReportServiceStatus(SERVICE_RUNNING)

    def ServiceCtrlHandlerEx(self, control: int, event_type: int, data: object) -> Any:  # noqa: N802
        if control == SERVICE_CONTROL_STOP:
            return self.SvcStop()  # type: ignore[attr-defined]
        if control == SERVICE_CONTROL_INTERROGATE:
            return self.SvcInterrogate()
        if control == SERVICE_CONTROL_SHUTDOWN:
            return self.SvcShutdown()  # type: ignore[attr-defined]
        return None

    def SvcRun(self) -> None:  # noqa: N802
        self.ReportServiceStatus(SERVICE_RUNNING)
        self.SvcDoRun()  # type: ignore[attr-defined]
        self.ReportServiceStatus(SERVICE_STOP_PENDING)
