"""``dumpkit triage PATH...``: analyse a pile of dumps (here on ``--jobs`` processes, or on a
Dask cluster with ``--scheduler``), keep every outcome in a SQLite database, and print the
buckets by count; a re-run analyses only the dumps the database has not seen."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from typing import List, Optional, Tuple

import click

from commands.triage_render import (Progress, render_csv, render_json, render_table,
                                    write_html)
from toolkit.triage.buckets import build_report
from toolkit.triage.inputs import collect
from toolkit.triage.runner import DEFAULT_TIMEOUT, run, start_workers
from toolkit.triage.store import Store


@click.command("triage")
@click.argument("paths", nargs=-1, required=True)
@click.option("--db", default="dumpkit-triage.sqlite", show_default=True,
              help="The SQLite database of outcomes (created when absent).")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=None,
              help="Worker processes on this machine; default: all cores.")
@click.option("--scheduler", default=None, metavar="tcp://HOST:PORT",
              help="Run on this Dask scheduler's workers (pip install 'dumpkit[cluster]').")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=DEFAULT_TIMEOUT,
              show_default=True, help="Seconds per dump; an overrun is recorded as refused.")
@click.option("--force", is_flag=True, help="Analyse again dumps the database already holds.")
@click.option("--symbol-path", "-y", default=None,
              help="Symbol path (_NT_SYMBOL_PATH syntax); default: $_NT_SYMBOL_PATH.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as one JSON object.")
@click.option("--csv", "as_csv", is_flag=True, help="Print the buckets as CSV.")
@click.option("--html", "html_file", type=click.Path(dir_okay=False), default=None,
              help="Also write a self-contained HTML report (chart, buckets, stacks) here.")
@click.option("--top", type=click.IntRange(min=1), default=20, show_default=True,
              help="Buckets in the text table and the HTML chart.")
def triage(paths: Tuple[str, ...], db: str, jobs: Optional[int], scheduler: Optional[str],
           timeout: float, force: bool, symbol_path: Optional[str], as_json: bool,
           as_csv: bool, html_file: Optional[str], top: int) -> None:
    """Triage dumps: files, directories, globs, @list.txt, .zip/.tar.* archives, compressed
    dumps. Non-dumps are skipped and named; bad dumps are refused with their reason."""
    _flush_on_sigterm()
    # Started first: their imports overlap opening the database and hashing the inputs.
    workers = None if scheduler else start_workers(jobs, symbol_path, timeout)
    try:
        store = Store(db)
    except BaseException:
        if workers is not None:
            workers.close()
        raise
    staging = tempfile.mkdtemp(prefix="dumpkit-triage-", dir=_staging_parent(db, scheduler))
    try:
        inputs = collect(paths, staging)
        with Progress(enabled=not (as_json or as_csv) or sys.stderr.isatty()) as progress:
            summary = run(inputs, store, jobs=jobs, timeout=timeout, symbol_path=symbol_path,
                          force=force, scheduler=scheduler, progress=progress.update,
                          workers=workers)
        report = build_report(store.rows(summary.hashes), inputs.skipped,
                              processed=len(summary.processed), known=summary.known, db=db)
    finally:
        if workers is not None:
            workers.close()
        store.close()
        shutil.rmtree(staging, ignore_errors=True)
    if html_file:
        write_html(report, html_file, top=top)
    if as_json:
        render_json(report)
    elif as_csv:
        render_csv(report)
    else:
        render_table(report, top=top)


def _flush_on_sigterm() -> None:
    """A terminated run (SIGTERM, as from a scheduler or `timeout`) unwinds like Ctrl-C, so
    the finished dumps of the unfinished batch are committed before it exits."""
    import signal
    if hasattr(signal, "SIGTERM"):
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))


def _staging_parent(db: str, scheduler: Optional[str]) -> Optional[str]:
    """Archive members are unpacked beside the database on a cluster (workers must see them:
    keep the database on the shared storage), in the temporary directory otherwise."""
    if scheduler:
        return os.path.dirname(os.path.abspath(db))
    return None


__all__: List[str] = ["triage"]
