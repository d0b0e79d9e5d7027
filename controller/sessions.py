"""Granting sessions: the controller decides, from the site's rules.

``build_rules`` tells a station what it needs to enforce sessions alone;
``decide_start`` answers a visitor's "start my session".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta

from controller.floor.state import StationLive
from controller.settings import Settings
from espace import protocol as p

_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _parse_range(text: str) -> tuple[time, time]:
    a, _, b = text.partition("-")
    return time.fromisoformat(a.strip()), time.fromisoformat(b.strip())


def open_slots(settings: Settings, now: float, days: int = 2) -> list[tuple[float, float]]:
    """Open periods (epoch) from today (local) for ``days`` days."""
    tz = settings.tz
    today = datetime.fromtimestamp(now, tz).date()
    out: list[tuple[float, float]] = []
    for offset in range(days):
        day = today + timedelta(days=offset)
        iso = day.isoformat()
        if iso in settings.closed:
            continue
        ranges = settings.exceptions.get(iso, settings.hours.get(_WEEKDAYS[day.weekday()], []))
        for text in ranges:
            a, b = _parse_range(text)
            out.append(
                (datetime.combine(day, a, tz).timestamp(), datetime.combine(day, b, tz).timestamp())
            )
    return out


def closing_after(settings: Settings, now: float) -> float | None:
    for start, end in open_slots(settings, now):
        if start <= now < end:
            return end
    return None


def _days_end(settings: Settings, now: float, days: int) -> float:
    today = datetime.fromtimestamp(now, settings.tz).date()
    return datetime.combine(today + timedelta(days=days), time(0), settings.tz).timestamp()


def build_rules(settings: Settings, station: str, now: float) -> p.Rules:
    return p.Rules(
        session_minutes=settings.session_minutes,
        warn_minutes=sorted(settings.warn_minutes, reverse=True),
        idle_prompt_s=settings.idle_prompt_minutes * 60,
        idle_grace_s=settings.idle_grace_minutes * 60,
        extension_minutes=settings.extension_minutes,
        last_call_minutes=settings.last_call_minutes,
        print_quota_pages=settings.print_quota_pages,
        timezone=settings.timezone,
        open_slots=[p.Slot(start=a, end=b) for a, b in open_slots(settings, now)],
        slots_until=_days_end(settings, now, 2),
        bookings=[],
    )


@dataclass(frozen=True, slots=True)
class Decision:
    grant: p.Grant | None = None
    refuse: p.Refuse | None = None


def decide_start(settings: Settings, live: StationLive, req: p.StartRequest, now: float) -> Decision:
    if live.locked is not None:
        return Decision(refuse=p.Refuse(cmd=p.new_id(), request=req.request, reason="locked"))
    if live.session is not None:
        return Decision(refuse=p.Refuse(cmd=p.new_id(), request=req.request, reason="busy"))
    closing = closing_after(settings, now)
    if closing is None:
        return Decision(refuse=p.Refuse(cmd=p.new_id(), request=req.request, reason="closed"))
    end, cause = now + settings.session_minutes * 60, "length"
    if closing < end:
        end, cause = closing, "closing"
    if end - now < settings.min_session_minutes * 60:
        return Decision(refuse=p.Refuse(cmd=p.new_id(), request=req.request, reason="no_time"))
    grant = p.Grant(
        cmd=p.new_id(),
        request=req.request,
        session_id=p.new_id(),
        start=now,
        end=end,
        cause=cause,
        origin="ticket" if req.ticket else "walkup",
        dry_run=req.dry_run,
    )
    return Decision(grant=grant)
