"""The merged matrix as one self-contained HTML page (``index.html``): styles,
script and plots inline, nothing fetched. Every string that comes from a
report goes through :func:`html.escape`; links from a report become links
only for http(s) URLs."""

from __future__ import annotations

import html
from collections.abc import Iterable
from typing import Any

from conformance.reporting import plots
from conformance.reporting.index_md import SCORE
from conformance.reporting.merge import (
    CELL,
    Column,
    Matrix,
    cell_kind,
    distinct_checks,
    failing,
    percent,
    wrong_everywhere,
)


def e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _link(url: str) -> str:
    if url.startswith(("https://", "http://")):
        return f'<a href="{e(url)}" rel="noreferrer">{e(url)}</a>'
    return e(url)


# A verdict on its own (in "what changed"), where expected or not is not
# known: a violation in amber, not the red of an unexpected one.
VERDICT_CLASS = {"holds": "v-holds", "violated": "v-known", "not-applicable": "v-na", "error": "v-error"}


def _anchor(col: Column, clause: str) -> str:
    return f"ev-{col.index}-{clause}"


STYLE = """
:root { --line: #d0d7de; --muted: #6e7781; font-family: system-ui, -apple-system, "Segoe UI", sans-serif; }
body { margin: 0 1.2rem 3rem; color: #1f2328; font-size: 14px; line-height: 1.4; }
h1 { margin: 1rem 0 0.2rem; font-size: 1.6rem; }
h2 { margin-top: 2rem; border-bottom: 1px solid var(--line); }
code, pre { font-family: ui-monospace, "SFMono-Regular", Menlo, monospace; font-size: 12px; }
pre { background: #f6f8fa; border: 1px solid var(--line); padding: 0.5rem; overflow-x: auto;
  white-space: pre-wrap; }
.lead { color: var(--muted); max-width: 70rem; }
.filters { position: sticky; top: 0; z-index: 5; background: #fff; padding: 0.5rem 0;
  border-bottom: 1px solid var(--line); display: flex; gap: 1.2rem; align-items: center; flex-wrap: wrap; }
.filters select { font-size: 14px; }
#f-count { color: var(--muted); }
.muted { color: var(--muted); }
.legend { display: flex; flex-wrap: wrap; gap: 0.3rem 1.2rem; font-size: 12px; color: var(--muted); }
.legend span.v { display: inline-block; min-width: 3.6rem; text-align: center;
  margin-right: 0.3rem; padding: 1px 0; }
.scroll { overflow: auto; max-height: 82vh; border: 1px solid var(--line); }
table.m { border-collapse: separate; border-spacing: 0; }
table.m th, table.m td { border-bottom: 1px solid #eaeef2; border-right: 1px solid #eaeef2;
  padding: 2px 4px; }
table.m thead th { position: sticky; top: 0; z-index: 3; background: #f6f8fa; vertical-align: bottom;
  font-weight: 600; font-size: 12px; min-width: 4.6rem; max-width: 6.5rem; word-break: break-word; }
table.m thead th .ver { display: block; font-weight: 400; }
table.m thead th .be { display: block; font-weight: 400; color: var(--muted); }
table.m thead th .sc { display: block; margin-top: 2px; border-top: 1px solid var(--line); }
table.m th.clause { position: sticky; left: 0; z-index: 2; background: #fff; text-align: left;
  font-weight: 400; min-width: 24rem; max-width: 28rem; }
table.m thead th.clause { z-index: 4; background: #f6f8fa; }
table.m th.clause .t { display: block; color: var(--muted); font-size: 12px; }
table.m tr.area th { text-align: left; background: #eef2f6; font-size: 13px; position: sticky; left: 0; }
table.m td.v { text-align: center; font-size: 12px; white-space: nowrap; }
table.m td.v a { color: inherit; text-decoration: none; display: block; }
table.m tfoot td, table.m tfoot th { background: #f6f8fa; font-size: 12px; text-align: center; }
table.m tfoot th.clause { text-align: right; background: #f6f8fa; }
.v-holds { background: #e6f4ea; color: #1a5e20; }
.v-known { background: #fff1d6; color: #8a4b00; }
.v-violated { background: #c62828; color: #fff; font-weight: 700; }
.v-holds-unexpected { background: #fff; color: #1a5e20; font-weight: 700;
  box-shadow: inset 0 0 0 2px #c62828; }
.v-na { color: #8c959f; }
.v-error { background: #6a1b9a; color: #fff; font-weight: 700; }
.v-absent { color: #8c959f; }
.stat { font-size: 10px; color: #0550ae; border: 1px solid #0550ae; border-radius: 3px;
  padding: 0 2px; margin-left: 4px; }
.status { display: block; font-size: 12px; }
.status.bad { color: #a40e26; } .status.ok { color: #1a5e20; } .status.wrong { color: #8a4b00; }
.quote { display: block; }
.sec { color: var(--muted); font-size: 12px; }
table.plain { border-collapse: collapse; margin: 0.5rem 0; }
table.plain th, table.plain td { border: 1px solid var(--line); padding: 3px 6px; text-align: left;
  vertical-align: top; }
details.ev { border: 1px solid var(--line); border-radius: 6px; margin: 0.6rem 0; padding: 0.3rem 0.8rem; }
details.ev > summary { cursor: pointer; font-weight: 600; }
article { border-top: 1px solid #eaeef2; padding: 0.4rem 0; scroll-margin-top: 3.5rem; }
article h4 { margin: 0.4rem 0; }
img.plot { max-width: 100%; border: 1px solid #eaeef2; }
.note { color: var(--muted); font-style: italic; }
"""

SCRIPT = """
"use strict";
(function () {
  const fw = document.getElementById("f-fw"), area = document.getElementById("f-area");
  const fail = document.getElementById("f-fail"), unexp = document.getElementById("f-unexp");
  const dyn = document.getElementById("dyn"), count = document.getElementById("f-count");
  const cols = Array.from(document.querySelectorAll("#matrix thead th[data-col]"));
  const ids = (el, name) => (el.getAttribute(name) || "").split(" ").filter(Boolean);
  function apply() {
    const shown = new Set(cols.filter(th => !fw.value || th.dataset.fw === fw.value)
      .map(th => th.dataset.col));
    dyn.textContent = cols.filter(th => !shown.has(th.dataset.col)).map(th => ".c" + th.dataset.col).join(",")
      + (shown.size === cols.length ? "" : "{display:none}");
    const any = (el, name) => ids(el, name).some(c => shown.has(c));
    const keep = el => (!area.value || el.dataset.area === area.value)
      && (!fail.checked || any(el, "data-fail")) && (!unexp.checked || any(el, "data-unexp"));
    let rows = 0, visible = 0;
    document.querySelectorAll("[data-row]").forEach(el => {
      const ok = keep(el);
      el.hidden = !ok;
      if (el.closest("#matrix")) { rows += 1; visible += ok ? 1 : 0; }
    });
    document.querySelectorAll("tbody[data-group]").forEach(tb => {
      tb.hidden = !tb.querySelector("[data-row]:not([hidden])");
    });
    document.querySelectorAll("[data-fwrow]").forEach(el => {
      el.hidden = (fw.value && el.dataset.fwrow !== fw.value)
        || (area.value && el.dataset.area !== area.value);
    });
    count.textContent = "showing " + visible + " of " + rows + " clauses, " + shown.size + " of "
      + cols.length + " reports";
  }
  function reveal() {
    const target = location.hash && document.getElementById(decodeURIComponent(location.hash.slice(1)));
    if (target) {
      const box = target.closest("details");
      if (box) { box.open = true; }
      target.scrollIntoView();
    }
  }
  [fw, area, fail, unexp].forEach(el => el.addEventListener("change", apply));
  window.addEventListener("hashchange", reveal);
  apply();
  reveal();
})();
"""


def _cell(m: Matrix, clause: str, col: Column, evidence: set[tuple[int, str]]) -> str:
    r = m.cell(clause, col)
    kind = cell_kind(r)
    text, meaning = CELL[kind]
    tip = f"{col.label}: {meaning}"
    if r is not None and r["reason"]:
        tip += f"\n{r['reason']}"
    if r is not None and wrong_everywhere(r):
        text += "\u2020"
        tip += f"\nthe claim is wrong for every version of {col.name}"
    body = e(text)
    if (col.index, clause) in evidence:
        body = f'<a href="#{e(_anchor(col, clause))}">{body}</a>'
    return f'<td class="v v-{kind} c{col.index}" title="{e(tip)}">{body}</td>'


def _row_attrs(m: Matrix, clause: str, area: str) -> str:
    fail = [str(c.index) for c in m.columns if failing(m.cell(clause, c))]
    unexp = [
        str(c.index)
        for c in m.columns
        if cell_kind(m.cell(clause, c)) in ("violated", "error", "holds-unexpected")
    ]
    return f'data-row data-area="{e(area)}" data-fail="{" ".join(fail)}" data-unexp="{" ".join(unexp)}"'


def _thead(m: Matrix, first: str) -> str:
    ths = [f'<th class="clause">{first}<span class="t">score: holds / (holds + violated + error)</span></th>']
    for c in m.columns:
        ths.append(
            f'<th class="c{c.index}" data-col="{c.index}" data-fw="{e(c.name)}" '
            f'title="{e(c.label)}\n{e(c.path.name)}">'
            f'{e(c.name)}<span class="ver">{e(c.version or "(not installed)")}</span>'
            f'<span class="be">{e(c.backend_label)}</span>'
            f'<span class="sc" title="score: holds / applicable">{percent(c.score)}</span></th>'
        )
    return "<thead><tr>" + "".join(ths) + "</tr></thead>"


def _tfoot(m: Matrix) -> str:
    rows = []
    for key, label in (
        ("holds", "holds"),
        ("violated", "violated"),
        ("not-applicable", "n/a"),
        ("error", "error"),
        ("unexpected", "unexpected"),
    ):
        tds = "".join(f'<td class="c{c.index}">{c.counts[key]}</td>' for c in m.columns)
        rows.append(f'<tr><th class="clause">{label}</th>{tds}</tr>')
    tds = "".join(
        f'<td class="c{c.index}" title="{c.counts["holds"]} of '
        f'{c.counts["holds"] + c.counts["violated"] + c.counts["error"]} applicable clauses hold">'
        f"<b>{percent(c.score)}</b></td>"
        for c in m.columns
    )
    rows.append(f'<tr><th class="clause"><b>score</b> holds / applicable</th>{tds}</tr>')
    return "<tfoot>" + "".join(rows) + "</tfoot>"


def _statistical(m: Matrix, clause: str) -> bool:
    return any(c.results.get(clause, {}).get("evidence", {}).get("statistics") for c in m.columns)


def _matrix(m: Matrix, evidence: set[tuple[int, str]]) -> str:
    n = len(m.columns) + 1
    parts = ['<div class="scroll"><table class="m" id="matrix-table">', _thead(m, "clause")]
    for area, clauses in m.areas().items():
        parts.append(f'<tbody data-group="{e(area)}"><tr class="area"><th colspan="{n}">{e(area)}</th></tr>')
        for c in clauses:
            badge = (
                '<span class="stat" title="checked by a statistical test">stat</span>'
                if _statistical(m, c.id)
                else ""
            )
            head = (
                f'<th class="clause" title="{e(c.statement)}"><code>{e(c.id)}</code>{badge}'
                f'<span class="t">{e(c.title)}</span></th>'
            )
            cells = "".join(_cell(m, c.id, col, evidence) for col in m.columns)
            parts.append(f"<tr {_row_attrs(m, c.id, area)}>{head}{cells}</tr>")
        parts.append("</tbody>")
    parts += [_tfoot(m), "</table></div>"]
    return "".join(parts)


def _changes(m: Matrix) -> str:
    if not m.changes:
        return '<p class="note">No verdict differs between versions of one framework on one backend.</p>'
    rows = "".join(
        f'<tr data-fwrow="{e(ch.framework)}" data-area="{e(ch.clause.split(".", 1)[0])}">'
        f"<td>{e(ch.group)}</td><td><code>{e(ch.clause)}</code></td>"
        f'<td><span class="{VERDICT_CLASS[ch.before]}">{e(ch.before)}</span> '
        f"in {e(ch.before_version)} \u2192 "
        f'<span class="{VERDICT_CLASS[ch.after]}">{e(ch.after)}</span> in {e(ch.after_version)}</td>'
        f"<td>{_first_release(ch)}</td><td>{e(ch.describe())}</td></tr>"
        for ch in m.changes
    )
    return (
        '<table class="plain"><thead><tr><th>framework</th><th>clause</th><th>verdict</th>'
        f"<th>first release</th><th>reading</th></tr></thead><tbody>{rows}</tbody></table>"
    )


def _first_release(ch: Any) -> str:
    """The exact first release where a bisection located the change, else
    what the tested versions bound it by."""
    b = ch.bisected
    if b is None:
        return (f'<span class="muted">after {e(ch.before_version)}, by {e(ch.after_version)} '
                "(not bisected)</span>")
    extra = f" or skipped {e(', '.join(b.undecided))}" if b.undecided else ""
    return f'<strong class="first-release">{e(b.first_after)}</strong>{extra} <small>({e(b.file)})</small>'



def _status_class(line: str) -> str:
    if line.startswith("wrong for every version"):
        return "wrong"
    return "ok" if line.startswith(("holds on", "true since", "applies to no")) else "bad"


def _documents(m: Matrix, evidence: set[tuple[int, str]]) -> str:
    parts = []
    for doc, claims in m.documents.items():
        parts.append(f"<h3>{e(doc)}</h3>")
        parts.append(
            '<div class="scroll"><table class="m">' + _thead(m, "claim: section, quote, clause, status")
        )
        parts.append("<tbody>")
        for cl in claims:
            area = cl.clause.split(".", 1)[0]
            status = "".join(f'<span class="status {_status_class(s)}">{e(s)}</span>' for s in cl.status)
            head = (
                f'<th class="clause"><span class="sec">{e(cl.section)}</span>'
                f'<span class="quote">\u201c{e(cl.quote)}\u201d</span>'
                f"<code>{e(cl.clause)}</code>{status}</th>"
            )
            cells = "".join(_cell(m, cl.clause, col, evidence) for col in m.columns)
            parts.append(f"<tr {_row_attrs(m, cl.clause, area)}>{head}{cells}</tr>")
        parts.append("</tbody></table></div>")
    return "".join(parts)


def _pre(label: str, text: str | None) -> str:
    return f"<p><b>{label}</b></p><pre>{e(text)}</pre>" if text else ""


def _checks(statistics: Iterable[dict[str, Any]]) -> str:
    def num(x: Any) -> str:
        return "null" if x is None else f"{x:.4g}"

    rows = "".join(
        f"<tr><td>{e(s['label'])}</td><td>{e(s['test'])}</td><td>{s['n']}</td><td>{num(s['statistic'])}</td>"
        f"<td>{num(s['p_value'])}</td><td>{num(s['alpha'])}</td>"
        f"<td>{'yes' if s.get('passed', True) else '<b>NO</b>'}</td></tr>"
        for s in statistics
    )
    return (
        '<table class="plain"><thead><tr><th>check</th><th>test</th><th>n</th><th>statistic</th>'
        f"<th>p</th><th>alpha</th><th>passed</th></tr></thead><tbody>{rows}</tbody></table>"
    )


def _article(col: Column, r: dict[str, Any]) -> str:
    kind = cell_kind(r)
    ev = r["evidence"]
    out = [
        f'<article id="{e(_anchor(col, r["spec"]))}" data-row data-area="{e(r["area"])}" '
        f'data-fail="{col.index if failing(r) else ""}" '
        f'data-unexp="{col.index if kind in ("violated", "error", "holds-unexpected") else ""}">',
        f"<h4><code>{e(r['spec'])}</code> {e(r['title'])} "
        f'<span class="v-{kind}">&nbsp;{e(CELL[kind][0])}&nbsp;</span></h4>',
        f"<p>{e(r['statement'])}</p>",
    ]
    kd = r["known_deviation"]
    if kd and r["verdict"] == "violated":
        scope = "every version" if wrong_everywhere(r) else kd["versions"]
        out.append(f"<p>Known deviation for {e(scope)}: {e(kd['reason'])} ({_link(kd['link'])})</p>")
    if failing(r):
        out.append(_pre("Message", ev["message"]))
        out.append(_pre("Minimal counterexample", ev["counterexample"]))
        out.append(_pre("Reproduce", ev["reproduce"]))
    checks = distinct_checks(ev["statistics"])
    if checks:
        uri = plots.figure(checks)
        if uri:
            out.append(
                f'<img class="plot" src="{uri}" '
                f'alt="{e(r["spec"])} on {e(col.label)}: sample against the documented law">'
            )
        else:
            out.append(
                '<p class="note">No plot: this report\'s statistical records carry no plot data '
                "(written before plots were recorded, or a law without a quantile function).</p>"
            )
        out.append(_checks(checks))
    out.append("</article>")
    return "".join(out)


def _evidence(m: Matrix) -> tuple[str, set[tuple[int, str]]]:
    parts, anchors = [], set()
    for col in m.columns:
        shown = [r for r in col.report["results"] if failing(r) or r["evidence"]["statistics"]]
        if not shown:
            continue
        n_fail = sum(failing(r) for r in shown)
        n_stat = sum(bool(r["evidence"]["statistics"]) for r in shown)
        has_plots = any(plots.plottable(r["evidence"]["statistics"]) for r in shown)
        parts.append(
            f'<details class="ev c{col.index}" data-fwrow="{e(col.name)}"><summary>{e(col.label)}: '
            f"{n_fail} violated or error, {n_stat} statistical"
            f"{'' if has_plots else ' (no plot data in this report)'}</summary>"
        )
        parts.append(
            f'<p class="note">{e(col.path.name)}, run {e(col.report["timestamp"])}, seed '
            f"{e(col.report['seed'])}</p>"
        )
        for r in shown:
            parts.append(_article(col, r))
            anchors.add((col.index, r["spec"]))
        parts.append("</details>")
    return "".join(parts), anchors


def render(m: Matrix) -> str:
    evidence, anchors = _evidence(m)
    frameworks = sorted({c.name for c in m.columns})
    fw_options = "".join(f'<option value="{e(n)}">{e(n)}</option>' for n in frameworks)
    area_options = "".join(f'<option value="{e(a)}">{e(a)}</option>' for a in m.areas())
    legend = "".join(
        f'<span><span class="v v-{k}">{e(text)}</span>{e(meaning)}</span>'
        for k, (text, meaning) in CELL.items()
    )
    ignored = (
        '<p class="note">Not read (only conformance-*.json files are): '
        f"{e(', '.join(p.name for p in m.ignored))}</p>"
        if m.ignored
        else ""
    )
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Conformance: compatibility matrix</title>
<style>{STYLE}</style>
<style id="dyn"></style>
</head>
<body>
<h1>Compatibility matrix</h1>
<p class="lead">How {len(m.columns)} framework versions manage model parameters, checked against the claims
of <i>Dive into Deep Learning</i>: {len(m.clauses)} clauses (catalogue {e(", ".join(m.catalogue_versions))}),
one column per report. Generated by <code>conformance report</code>.</p>
{ignored}
<nav class="filters" aria-label="filters">
<label>Framework <select id="f-fw"><option value="">all</option>{fw_options}</select></label>
<label>Area <select id="f-area"><option value="">all</option>{area_options}</select></label>
<label><input type="checkbox" id="f-fail"> only failures (violated or error)</label>
<label><input type="checkbox" id="f-unexp"> only unexpected</label>
<span id="f-count"></span>
</nav>
<section id="matrix">
<h2>The matrix</h2>
<p class="lead">{e(SCORE.replace("*", ""))}</p>
<p class="legend">{legend}<span>\u2020 the claim is wrong for every version of that framework (its known
deviation covers all versions)</span>
<span>Hover a cell for the reason; a linked cell has evidence below.</span></p>
{_matrix(m, anchors)}
</section>
<section id="changes">
<h2>What changed</h2>
<p class="lead">Clauses whose verdict differs between consecutive tested versions of one framework on one
backend (versions in PEP 440 order); where a bisection in <code>bisect/</code>
(<code>conformance bisect</code>) covers the change, the exact first release whose verdict differs.</p>
{_changes(m)}
</section>
<section id="documents">
<h2>By source document</h2>
<p class="lead">Each quoted claim, its status across the reports, and where it holds.</p>
{_documents(m, anchors)}
</section>
<section id="evidence">
<h2>Evidence</h2>
<p class="lead">Per report: for each violation or error the message, the minimal counterexample and the
command that reproduces it; for each statistical clause its checks and a plot of the sampled values against
the documented law (QQ: a straight diagonal is a fit; a failed check is drawn in red).</p>
{evidence}
</section>
<script>{SCRIPT}</script>
</body>
</html>
"""
