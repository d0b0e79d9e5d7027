"""The back office's figures, charts, exports and retention.

``figures`` reads the store (SELECT only) and ``aggregate`` counts; ``svg``
draws charts for the reports page; ``export`` writes CSV and XLSX;
``retention`` prunes the raw event trail.
"""

from controller.reports.aggregate import (
    END_REASONS,
    KINDS,
    WEEKDAYS,
    HelpFigures,
    Occupancy,
    PrinterPages,
    PrintFigures,
    QueueFigures,
    SessionFigures,
    SessionRow,
    Stats,
)
from controller.reports.export import FORMATS, WHATS, Table, build_table, export
from controller.reports.figures import (
    AnnualFigures,
    Report,
    annual,
    help_figures,
    occupancy,
    print_figures,
    queue_figures,
    report,
    session_figures,
    summary,
)
from controller.reports.retention import prune_events
from controller.reports.timebuckets import DEFAULT_TZ

__all__ = [
    "DEFAULT_TZ",
    "END_REASONS",
    "FORMATS",
    "KINDS",
    "WEEKDAYS",
    "WHATS",
    "AnnualFigures",
    "HelpFigures",
    "Occupancy",
    "PrintFigures",
    "PrinterPages",
    "QueueFigures",
    "Report",
    "SessionFigures",
    "SessionRow",
    "Stats",
    "Table",
    "annual",
    "build_table",
    "export",
    "help_figures",
    "occupancy",
    "print_figures",
    "prune_events",
    "queue_figures",
    "report",
    "session_figures",
    "summary",
]
