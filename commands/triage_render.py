"""Views of a triage report: the progress while it runs (a rich bar with dumps/s and ETA on a
terminal, a plain line every few seconds elsewhere; both on stderr), and the buckets as a text
table, JSON or CSV on stdout, or an HTML page (``commands.triage_html``)."""

from __future__ import annotations

import csv
import json
import sys
import time
from typing import Any, Optional

import click

from commands.output import escape_controls
from toolkit.triage.buckets import Report, iso_time

CSV_COLUMNS = ("bucket", "count", "share", "first_time", "last_time", "example", "top_module",
               "top_module_version", "signature")


class Progress:
    """``update(done, total)`` from the runner; a context manager around the run."""

    def __init__(self, enabled: bool = True, interval: float = 5.0) -> None:
        self.enabled, self.interval = enabled, interval
        self.tty = enabled and sys.stderr.isatty()
        self._bar: Any = None
        self._task: Any = None
        self._start = time.monotonic()
        self._last = 0.0
        self._done = self._total = 0

    def __enter__(self) -> "Progress":
        if self.tty:
            from rich.console import Console
            from rich.progress import (BarColumn, MofNCompleteColumn, TaskProgressColumn,
                                       TextColumn, TimeRemainingColumn)
            from rich.progress import Progress as RichProgress
            self._bar = RichProgress(TextColumn("triage"), BarColumn(), MofNCompleteColumn(),
                                     TaskProgressColumn(),
                                     TextColumn("{task.fields[rate]}"), TimeRemainingColumn(),
                                     console=Console(file=sys.stderr), transient=False)
            self._bar.__enter__()
        return self

    def update(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        if done == 0:
            self._start = time.monotonic()
        self._done, self._total = done, total
        rate = done / max(time.monotonic() - self._start, 1e-6)
        if self._bar is not None:
            if self._task is None:
                self._task = self._bar.add_task("triage", total=total, rate="")
            self._bar.update(self._task, completed=done, rate=f"{rate:.1f} dumps/s")
        elif done and (done == total or time.monotonic() - self._last >= self.interval):
            self._last = time.monotonic()
            click.echo(f"triage: {done}/{total} dumps analysed ({rate:.1f} dumps/s)", err=True)

    def __exit__(self, *exc: Any) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)


def render_json(report: Report) -> None:
    click.echo(json.dumps(report.to_json(), indent=2))


def render_csv(report: Report) -> None:
    out = csv.writer(sys.stdout, lineterminator="\n")
    out.writerow(CSV_COLUMNS)
    for b in report.buckets:
        doc = b.to_json()
        out.writerow([doc[c] if doc[c] is not None else "" for c in CSV_COLUMNS])


def render_table(report: Report, top: int = 20) -> None:
    from rich.table import Table

    from commands.output import console
    con = console()
    con.print(f"{report.ok + len(report.refused)} dumps: {report.ok} ok, "
              f"{len(report.refused)} refused; {report.processed} analysed now, "
              f"{report.known} known from {report.db}; {len(report.skipped)} files skipped")
    table = Table(show_edge=False, pad_edge=False)
    for name, justify in (("count", "right"), ("share", "right"), ("bucket", "left"),
                          ("signature", "left"), ("top module", "left"), ("first", "left"),
                          ("last", "left"), ("example", "left")):
        table.add_column(name, justify=justify, overflow="fold")
    for b in report.buckets[:top]:
        module = (b.top_module or "") + (f" {b.top_module_version}" if b.top_module_version
                                         else "")
        table.add_row(str(b.count), f"{b.share:.1%}", b.bucket, b.signature, module,
                      _date(b.first_time), _date(b.last_time), b.example)
    if report.buckets:
        con.print(table)
    if len(report.buckets) > top:
        con.print(f"... {len(report.buckets) - top} more buckets (--top, --json, --csv)")
    for o in report.refused:
        con.print(escape_controls(f"refused: {o.name}: {o.reason}"), markup=False)
    for s in report.skipped:
        con.print(escape_controls(f"skipped: {s.name}: {s.reason}"), markup=False)


def _date(stamp: Optional[int]) -> str:
    text = iso_time(stamp)
    return text[:10] if text else ""


def write_html(report: Report, path: str, top: int = 20) -> None:
    from commands.triage_html import render_html
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(render_html(report, top=top))
