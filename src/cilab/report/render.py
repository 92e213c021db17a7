"""The report's HTML: one self-contained page (inline CSS, no external URL) over `img/`.

Every piece of text that comes from a run (names, configs, JSON values, captions) goes through
`html.escape`. The only script is a few inline lines that count the images that loaded and
write `n/m` into `body[data-images-ok]` (and the footer): the browser test reads it; the page
works the same without it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from html import escape
from typing import Any

from cilab.report.view import Fig, MetricRow, RunView, Table

GENERATOR = "cilab report"
PARTS = (
    ("theory", "Variational theory"),
    ("gen", "Generative models on MNIST"),
    ("roads", "Road segmentation (CIL 2019)"),
    ("cosmo", "Cosmology"),
    ("other", "Other"),
)
STATUS_TEXT = {
    "met": "✓ met",
    "not-met": "✗ not met",
    "pending": "… provisional",
    "missing": "– missing",
    "none": "",
}
STATE_CLASS = {"done": "ok", "running": "run", "stopped": "warn", "partial": "warn"}


@dataclass
class Page:
    """Everything the page shows; `build_report` assembles it, `render` turns it into HTML."""

    runs_dir: str
    generated: str
    machine: list[tuple[str, str]]
    views: list[RunView]
    loose: list[tuple[Fig, str]] = field(default_factory=list)  # (figure, part)
    demo: Table | None = None
    demo_facts: list[tuple[str, str]] = field(default_factory=list)


def e(value: Any) -> str:
    """`value` as HTML-escaped text, quotes included, so it is safe inside attributes too."""
    return escape(str(value), quote=True)


def prose(value: Any) -> str:
    """Escaped prose, with `backquoted` spans set as code."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", e(value))


CSS = """
:root { --ink:#1d2330; --muted:#5b6474; --line:#d9dee6; --bg:#f4f6f9; --card:#fff;
  --ok:#1a7f37; --okbg:#dcf3e3; --bad:#b42318; --badbg:#fde4e1; --warn:#8a5a00;
  --warnbg:#fff1cc; --accent:#2457c5; }
* { box-sizing: border-box; }
body { margin:0; font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",
  sans-serif; color:var(--ink); background:var(--bg); }
a { color:var(--accent); text-decoration:none; } a:hover { text-decoration:underline; }
header.top { background:#1f2a44; color:#fff; padding:22px 32px 18px; }
header.top h1 { margin:0 0 4px; font-size:26px; letter-spacing:.2px; }
header.top .sub { margin:0 0 12px; color:#c9d3e6; }
header.top dl { display:grid; grid-template-columns:repeat(auto-fill,minmax(260px,1fr));
  gap:2px 24px; margin:0; font-size:13px; }
header.top dt { color:#9fb0cf; display:inline; } header.top dd { display:inline; margin:0 0 0 6px; }
header.top dl div { white-space:nowrap; overflow:hidden; text-overflow:ellipsis; }
main { max-width:1220px; margin:0 auto; padding:20px 24px 40px; }
h2 { font-size:21px; margin:30px 0 12px; padding-bottom:6px; border-bottom:2px solid var(--line); }
h3 { font-size:17px; margin:0; } h4 { font-size:14px; margin:16px 0 6px; color:var(--muted);
  text-transform:uppercase; letter-spacing:.6px; }
.card { background:var(--card); border:1px solid var(--line); border-radius:10px;
  padding:16px 20px; margin:0 0 18px; box-shadow:0 1px 2px rgba(20,30,50,.04); }
.run header { display:flex; flex-wrap:wrap; align-items:baseline; gap:6px 12px;
  margin-bottom:10px; }
.run header .what { color:var(--muted); }
.badge { display:inline-block; font-size:12px; font-weight:600; padding:1px 8px;
  border-radius:999px; background:#e8ecf2; color:var(--muted); white-space:nowrap; }
.badge.ok, .st-met { background:var(--okbg); color:var(--ok); }
.badge.bad, .st-not-met { background:var(--badbg); color:var(--bad); }
.badge.warn, .badge.run, .st-pending { background:var(--warnbg); color:var(--warn); }
table { border-collapse:collapse; width:100%; font-size:14px; margin:4px 0 8px; }
th, td { text-align:left; padding:5px 9px; border-bottom:1px solid var(--line);
  vertical-align:top; }
th { background:#eef1f6; font-weight:600; font-size:13px; }
td.num, th.num { text-align:right; font-variant-numeric:tabular-nums; white-space:nowrap; }
tbody tr:nth-child(even) td { background:#fafbfc; }
col.c-metric { width:27%; } col.c-value { width:13%; } col.c-target { width:11%; }
col.c-status { width:10%; }
table.metrics td.status span { display:inline-block; padding:1px 8px; border-radius:999px;
  font-weight:600; font-size:12px; white-space:nowrap; }
.refs { color:var(--muted); font-size:13px; } .src { color:#8a93a3; font-size:12px; }
.note { color:var(--muted); font-size:13px; margin:4px 0 8px; }
.caption { font-size:13px; color:var(--muted); margin:2px 0 4px; }
.grid { display:grid; grid-template-columns:repeat(auto-fill,minmax(300px,1fr)); gap:14px;
  margin:6px 0 4px; }
figure { margin:0; background:#fbfcfd; border:1px solid var(--line); border-radius:8px;
  padding:8px; display:flex; flex-direction:column; }
figure.wide { grid-column:1 / -1; }
figure img { max-width:100%; height:auto; display:block; margin:0 auto; }
figure.wide img { max-height:560px; }
figcaption { font-size:13px; color:var(--muted); margin-top:6px; }
figcaption code { font-size:12px; }
.missing-img { color:var(--bad); font-size:13px; }
dl.facts { display:grid; grid-template-columns:repeat(auto-fill,minmax(280px,1fr));
  gap:2px 24px; margin:4px 0; font-size:13px; }
dl.facts dt { display:inline; color:var(--muted); }
dl.facts dd { display:inline; margin:0 0 0 6px; }
pre { background:#f1f3f7; border:1px solid var(--line); border-radius:6px; padding:8px 10px;
  overflow-x:auto; font-size:12.5px; margin:4px 0; white-space:pre-wrap; word-break:break-all; }
pre.cmd { background:#1f2a44; color:#e8edf7; border:none; }
details { margin:8px 0 0; } summary { cursor:pointer; color:var(--accent); font-size:14px; }
nav.toc table td:first-child { white-space:nowrap; }
nav.toc .part td { background:#eef1f6 !important; font-weight:600; }
footer { color:var(--muted); font-size:12px; text-align:center; padding:10px 0 30px; }
"""

SCRIPT = """
window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.images);
  var ok = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;
  document.body.dataset.imagesOk = ok + '/' + imgs.length;
  var s = document.getElementById('images-status');
  if (s) { s.textContent = ok + ' of ' + imgs.length + ' images loaded'; }
});
"""


def _table(t: Table, cls: str = "data") -> str:
    numeric = [
        bool(t.rows) and all(_numeric(r[i]) for r in t.rows if i < len(r) and r[i] != "–")
        for i in range(len(t.header))
    ]
    head = "".join(
        f'<th class="num">{e(h)}</th>' if n else f"<th>{e(h)}</th>"
        for h, n in zip(t.header, numeric, strict=True)
    )
    body = (
        "".join(
            "<tr>"
            + "".join(_td(c, i < len(numeric) and numeric[i]) for i, c in enumerate(row))
            + "</tr>"
            for row in t.rows
        )
        or f'<tr><td colspan="{max(len(t.header), 1)}">(no rows)</td></tr>'
    )
    note = f'<p class="note">{prose(t.note)}</p>' if t.note else ""
    title = f'<p class="caption">{e(t.title)}</p>' if t.title else ""
    table = f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
    return title + table + note


def _numeric(cell: str) -> bool:
    s = str(cell)
    return s[:1].isdigit() or (s[:1] in "-−" and s[1:2].isdigit())


def _td(cell: str, numeric_column: bool = False) -> str:
    if _numeric(cell) or (numeric_column and cell == "–"):
        return f'<td class="num">{e(cell)}</td>'
    return f"<td>{e(cell)}</td>"


def _metrics(rows: Sequence[MetricRow]) -> str:
    if not rows:
        return ""
    out = [
        '<table class="metrics"><colgroup><col class="c-metric"><col class="c-value">'
        '<col class="c-target"><col class="c-status"><col></colgroup>'
        '<thead><tr><th>metric</th><th class="num">value</th><th>target</th><th></th>'
        "<th>anchors</th></tr></thead><tbody>"
    ]
    for r in rows:
        target = (
            f'{e(r.target.describe())}<br><span class="src">{e(r.target.source)}</span>'
            if r.target
            else ""
        )
        refs = "<br>".join(
            f'{e(ref.text)} <span class="src">({e(ref.source)})</span>' for ref in r.refs
        )
        note = f'<br><span class="src">{e(r.note)}</span>' if r.note else ""
        status = r.status
        badge = (
            f'<span class="st-{status}">{e(STATUS_TEXT[status])}</span>' if status != "none" else ""
        )
        out.append(
            f'<tr class="metric st-row-{status}"><td>{e(r.label)}{note}</td>'
            f'<td class="num">{e(r.text)}</td><td>{target}</td><td class="status">{badge}</td>'
            f'<td class="refs">{refs}</td></tr>'
        )
    out.append("</tbody></table>")
    return "".join(out)


def _figure(f: Fig) -> str:
    cls = ' class="wide"' if f.wide else ""
    if f.src is None:
        body = f'<p class="missing-img">image unavailable: {e(f.path or f.caption)}</p>'
    else:
        body = f'<a href="{e(f.src)}"><img src="{e(f.src)}" alt="{e(f.caption)}"></a>'
    origin = f" <code>{e(f.path.name)}</code>" if f.path is not None else ""
    return f"<figure{cls}>{body}<figcaption>{e(f.caption)}{origin}</figcaption></figure>"


def _figures(figs: Iterable[Fig]) -> str:
    items = "".join(_figure(f) for f in figs)
    return f'<div class="grid">{items}</div>' if items else ""


def _facts(facts: Sequence[tuple[str, str]]) -> str:
    if not facts:
        return ""
    items = "".join(f"<div><dt>{e(k)}</dt><dd>{e(v)}</dd></div>" for k, v in facts)
    return f'<dl class="facts">{items}</dl>'


def _targets_summary(v: RunView) -> str:
    counts = {s: sum(r.status == s for r in v.metrics) for s in ("met", "not-met", "pending")}
    bits = []
    if counts["met"]:
        bits.append(f'<span class="badge ok">{counts["met"]} met</span>')
    if counts["not-met"]:
        bits.append(f'<span class="badge bad">{counts["not-met"]} not met</span>')
    if counts["pending"]:
        bits.append(f'<span class="badge warn">{counts["pending"]} provisional</span>')
    return " ".join(bits) or '<span class="src">no target</span>'


def _run(v: RunView) -> str:
    state = f'<span class="badge {STATE_CLASS.get(v.state, "")}">{e(v.state_text)}</span>'
    parts = [
        f'<article class="card run" id="{e(v.anchor_id)}"><header><h3>{e(v.name)}</h3>'
        f'<span class="what">{e(v.title)}</span>{state}</header>'
    ]
    parts += [f'<p class="note">{prose(n)}</p>' for n in v.notes]
    parts.append(_metrics(v.metrics))
    parts += [_table(t) for t in v.tables]
    if v.figures:
        parts.append("<h4>Figures</h4>" + _figures(v.figures))
    if v.curves:
        parts.append("<h4>Training curves</h4>" + _figures(v.curves))
    if v.facts:
        parts.append("<h4>Machine and time</h4>" + _facts(v.facts))
    cmds = [c for c in v.commands if c]
    if cmds:
        parts.append(
            f'<h4>Command</h4><p class="note">{prose(v.commands_source)}</p>'
            + "".join(f'<pre class="cmd">{e(c)}</pre>' for c in cmds)
        )
    if v.config is not None:
        text = json.dumps(v.config, indent=2, sort_keys=True, default=str)
        parts.append(
            f"<details><summary>{e(v.config_name)}</summary><pre>{e(text)}</pre></details>"
        )
    parts.append("</article>")
    return "".join(parts)


def _toc(page: Page, present: list[tuple[str, str]]) -> str:
    rows = []
    for part, title in present:
        rows.append(
            f'<tr class="part"><td colspan="3"><a href="#part-{part}">{e(title)}</a></td></tr>'
        )
        for v in page.views:
            if v.part == part:
                state = (
                    f'<span class="badge {STATE_CLASS.get(v.state, "")}">{e(v.state_text)}</span>'
                )
                rows.append(
                    f'<tr><td><a href="#{e(v.anchor_id)}">{e(v.name)}</a></td>'
                    f"<td>{e(v.title)} {state}</td><td>{_targets_summary(v)}</td></tr>"
                )
        n_loose = sum(p == part for _, p in page.loose)
        if n_loose:
            rows.append(
                f'<tr><td><a href="#figures-{part}">figures</a></td>'
                f"<td>{n_loose} loose figure(s)</td><td></td></tr>"
            )
    return (
        '<nav class="card toc"><h3>Contents</h3><table><thead><tr><th>run</th><th>what, state'
        "</th><th>targets</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table></nav>"
    )


def render(page: Page) -> str:
    """The whole self-contained index.html: header, contents, demo table, then each part."""
    present = [
        (p, t)
        for p, t in PARTS
        if any(v.part == p for v in page.views) or any(q == p for _, q in page.loose)
    ]
    body = [
        '<header class="top"><h1>cilab report</h1>'
        f'<p class="sub">runs in <code>{e(page.runs_dir)}</code> · generated {e(page.generated)}'
        f" · {len(page.views)} run(s)</p>" + _facts_top(page.machine) + "</header><main>",
        _toc(page, present),
    ]
    if page.demo is not None or page.demo_facts:
        body.append('<section id="demo"><h2>Demo (demo.json)</h2><div class="card">')
        body.append(_facts(page.demo_facts))
        if page.demo is not None:
            body.append(_table(page.demo))
        body.append("</div></section>")
    for part, title in present:
        body.append(f'<section class="part" id="part-{part}"><h2>{e(title)}</h2>')
        body += [_run(v) for v in page.views if v.part == part]
        loose = [f for f, p in page.loose if p == part]
        if loose:
            body.append(
                f'<div class="card" id="figures-{part}"><h3>Figures</h3>'
                + _figures(loose)
                + "</div>"
            )
        body.append("</section>")
    body.append(
        f'</main><footer>{e(GENERATOR)} · <span id="images-status">images: '
        "counted when the page has loaded</span></footer>"
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta name="generator" content="{e(GENERATOR)}">'
        f"<title>cilab report: {e(page.runs_dir)}</title><style>{CSS}</style></head>\n"
        "<body>" + "\n".join(body) + f"<script>{SCRIPT}</script></body></html>\n"
    )


def _facts_top(facts: Sequence[tuple[str, str]]) -> str:
    items = "".join(f"<div><dt>{e(k)}</dt><dd>{e(v)}</dd></div>" for k, v in facts)
    return f"<dl>{items}</dl>"
