"""Render a report: terminal tables, a versioned JSON document, a self-contained HTML page."""

from vigil.report.html import render_html, write_html
from vigil.report.json import REPORT_SCHEMA_VERSION, report_to_dict, report_to_json, write_json
from vigil.report.model import Check, Report
from vigil.report.terminal import render_terminal

__all__ = [
    "REPORT_SCHEMA_VERSION",
    "Check",
    "Report",
    "render_html",
    "render_terminal",
    "report_to_dict",
    "report_to_json",
    "write_html",
    "write_json",
]
