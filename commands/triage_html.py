"""The triage report as one self-contained HTML page: inline CSS, an inline SVG bar chart of the
top buckets, then every bucket with its dumps and its representative stack, the refused dumps
and the skipped files. No script, font, image or style sheet is fetched at view time, so the
page can be mailed or attached to a bug as it is."""

from __future__ import annotations

from html import escape
from typing import List

from toolkit.triage.buckets import Bucket, Report, iso_time

CSS = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 2em; color: #222; }
h1 { font-size: 1.4em; } h2 { font-size: 1.15em; margin-top: 2em; }
code, pre { font: 12px/1.35 ui-monospace, monospace; }
pre { background: #f6f6f6; padding: .6em; overflow-x: auto; }
table { border-collapse: collapse; } td, th { padding: .2em .6em; text-align: left; }
tr:nth-child(even) { background: #fafafa; } th { border-bottom: 1px solid #999; }
td.n { text-align: right; } .bar { fill: #4a7bb7; } .label { font: 12px ui-monospace, monospace; }
details { margin: .4em 0; } summary { cursor: pointer; }
.muted { color: #666; }
"""


def render_html(report: Report, top: int = 20) -> str:
    total = report.ok + len(report.refused)
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             "<title>dumpkit triage</title>", f"<style>{CSS}</style></head><body>",
             "<h1>dumpkit triage</h1>",
             f'<p id="summary">{total} dumps: {report.ok} ok, {len(report.refused)} refused; '
             f"{len(report.buckets)} buckets; {len(report.skipped)} files skipped "
             f'<span class="muted">(database {escape(report.db)})</span></p>']
    if report.buckets:
        parts += ["<h2>Top buckets</h2>", _chart(report.buckets[:top]), _table(report.buckets),
                  "<h2>Buckets</h2>"]
        parts += [_bucket(i, b) for i, b in enumerate(report.buckets)]
    if report.refused:
        parts.append(f'<h2>Refused dumps ({len(report.refused)})</h2><table id="refused">'
                     "<tr><th>dump</th><th>reason</th></tr>")
        parts += [f"<tr><td><code>{escape(o.name)}</code></td><td>{escape(o.reason or '')}"
                  "</td></tr>" for o in report.refused]
        parts.append("</table>")
    if report.skipped:
        parts.append(f"<details><summary>Skipped files ({len(report.skipped)})</summary>"
                     '<table id="skipped">')
        parts += [f"<tr><td><code>{escape(s.name)}</code></td><td>{escape(s.reason)}</td></tr>"
                  for s in report.skipped]
        parts.append("</table></details>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _chart(buckets: List[Bucket]) -> str:
    """Horizontal bars, one per bucket, width proportional to its count."""
    row, label_w, bar_w = 22, 520, 360
    most = max(b.count for b in buckets)
    height = row * len(buckets) + 10
    out = [f'<svg id="chart" xmlns="http://www.w3.org/2000/svg" width="{label_w + bar_w + 60}" '
           f'height="{height}" role="img" aria-label="dumps per bucket">']
    for i, b in enumerate(buckets):
        y = 5 + i * row
        w = max(1.0, bar_w * b.count / most)
        name = b.bucket if len(b.bucket) <= 70 else b.bucket[:67] + "..."
        out.append(f'<a href="#bucket-{i}"><text class="label" x="{label_w - 6}" y="{y + 15}" '
                   f'text-anchor="end">{escape(name)}<title>{escape(b.bucket)}</title></text></a>'
                   f'<rect class="bar" x="{label_w}" y="{y + 2}" width="{w:.1f}" '
                   f'height="{row - 6}"/><text class="label" x="{label_w + w + 5:.1f}" '
                   f'y="{y + 15}">{b.count}</text>')
    out.append("</svg>")
    return "".join(out)


def _table(buckets: List[Bucket]) -> str:
    out = ['<table id="buckets"><tr><th>count</th><th>share</th><th>bucket</th>'
           "<th>signature</th><th>top module</th><th>first</th><th>last</th></tr>"]
    for i, b in enumerate(buckets):
        module = (b.top_module or "") + (f" {b.top_module_version}" if b.top_module_version
                                         else "")
        out.append(f'<tr><td class="n">{b.count}</td><td class="n">{b.share:.1%}</td>'
                   f'<td><a href="#bucket-{i}"><code>{escape(b.bucket)}</code></a></td>'
                   f"<td><code>{escape(b.signature)}</code></td><td>{escape(module)}</td>"
                   f"<td>{iso_time(b.first_time) or ''}</td><td>{iso_time(b.last_time) or ''}"
                   "</td></tr>")
    out.append("</table>")
    return "".join(out)


def _bucket(i: int, b: Bucket) -> str:
    dumps = "".join(f"<li><code>{escape(d)}</code></li>" for d in b.dumps)
    stack = escape("\n".join(b.stack)) if b.stack else "(no frames)"
    return (f'<section class="bucket" id="bucket-{i}"><h3><code>{escape(b.bucket)}</code> '
            f'<span class="muted">{b.count} dump{"s" if b.count != 1 else ""}</span></h3>'
            f"<p>signature <code>{escape(b.signature)}</code>; example "
            f"<code>{escape(b.example)}</code></p>"
            f"<pre>{stack}</pre>"
            f"<details><summary>dumps ({b.count})</summary><ul>{dumps}</ul></details></section>")
