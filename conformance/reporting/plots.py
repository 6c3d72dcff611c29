"""Plots of a statistical clause's sampled values against the documented law,
drawn with matplotlib (Agg, no display) into inline PNG data URIs.

A statistical record may carry a ``plot`` object (report schema 1.0, optional):

* ``{"kind": "qq", "probabilities", "sample", "law"}``: sample quantiles and
  the documented law's quantiles at the same probabilities;
* ``{"kind": "qq2", "probabilities", "a", "b"}``: quantiles of two samples;
* ``{"kind": "counts", "labels", "observed", "expected"}``: category counts.

One figure per clause and report: every QQ record of the clause on one axis
(each record scaled by its largest law quantile, so layers of different widths
share the diagonal), every two-sample record on another, and the category
shares of the count records as bars with the expected shares marked. A check
that failed is drawn in red.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from typing import Any

INSTALL_HINT = "pip install 'param-conformance[report]'"
# The arrays of each kind of plot, all of one length; a null entry is a
# non-finite number and is not drawn.
PLOT_ARRAYS: dict[str, tuple[str, ...]] = {
    "qq": ("probabilities", "sample", "law"),
    "qq2": ("probabilities", "a", "b"),
    "counts": ("labels", "observed", "expected"),
}
FAILED = "#c62828"
PALETTE = ("#1565c0", "#2e7d32", "#6a1b9a", "#ef6c00", "#00838f", "#5d4037", "#455a64")


class PlotsUnavailable(RuntimeError):
    """matplotlib is not installed."""


def require() -> None:
    """Raise :class:`PlotsUnavailable` unless matplotlib can be imported, and
    select its Agg backend (no display, no window)."""
    try:
        import matplotlib
    except ImportError as exc:
        raise PlotsUnavailable(
            f"the page's plots need matplotlib, which is not installed ({exc}); "
            f"install it with: {INSTALL_HINT}"
        ) from exc
    matplotlib.use("Agg", force=True)


def plottable(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records with a plot of a kind drawn here."""
    return [s for s in records if isinstance(s.get("plot"), dict) and s["plot"].get("kind") in PLOT_ARRAYS]


def _finite_pairs(xs: Sequence[float | None], ys: Sequence[float | None]) -> tuple[list[float], list[float]]:
    pairs = [(x, y) for x, y in zip(xs, ys) if x is not None and y is not None]
    return [x for x, _ in pairs], [y for _, y in pairs]


def _style(i: int, record: dict[str, Any]) -> dict[str, Any]:
    failed = record.get("passed") is False
    return {
        "color": FAILED if failed else PALETTE[i % len(PALETTE)],
        "lw": 1.8 if failed else 1.0,
        "zorder": 3 if failed else 2,
        "label": f"n={record['n']}" + (" FAILED" if failed else ""),
    }


def _qq(ax: Any, records: Sequence[dict[str, Any]], x: str, y: str, title: str) -> None:
    for i, rec in enumerate(records):
        xs, ys = _finite_pairs(rec["plot"][x], rec["plot"][y])
        scale = max((abs(v) for v in (*xs, *ys)), default=0.0) or 1.0
        ax.plot([v / scale for v in xs], [v / scale for v in ys], marker=".", ms=3, **_style(i, rec))
    ax.plot([-1, 1], [-1, 1], color="#9e9e9e", lw=0.8, ls="--", zorder=1)
    ax.set_title(title, fontsize=9)
    ax.set_xlabel(f"{x} quantile (scaled)", fontsize=8)
    ax.set_ylabel(f"{y} quantile (scaled)", fontsize=8)


def _counts(ax: Any, records: Sequence[dict[str, Any]]) -> None:
    labels = records[0]["plot"]["labels"]
    width = 0.8 / len(records)
    for i, rec in enumerate(records):
        p = rec["plot"]
        observed = [o or 0.0 for o in p["observed"]]
        expected = [e or 0.0 for e in p["expected"]]
        total_o, total_e = sum(observed) or 1.0, sum(expected) or 1.0
        xs = [k - 0.4 + width * (i + 0.5) for k in range(len(labels))]
        style = _style(i, rec)
        ax.bar(xs, [o / total_o for o in observed], width=width, color=style["color"], label=style["label"])
        ax.plot(xs, [e / total_e for e in expected], ls="none", marker="_", ms=12, mew=2, color="black")
    ax.set_xticks(range(len(labels)), [str(lb) for lb in labels], fontsize=7)
    ax.set_title("category shares (bars) vs expected (black)", fontsize=9)
    ax.set_ylabel("share", fontsize=8)


def figure(records: Sequence[dict[str, Any]]) -> str | None:
    """A ``data:image/png;base64,...`` URI drawing the plots of ``records``
    (one clause of one report), or ``None`` when none has a plot drawn here."""
    records = plottable(records)
    if not records:
        return None
    require()
    from matplotlib.figure import Figure

    qq = [r for r in records if r["plot"]["kind"] == "qq"]
    qq2 = [r for r in records if r["plot"]["kind"] == "qq2"]
    by_labels: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for r in records:
        if r["plot"]["kind"] == "counts":
            by_labels.setdefault(tuple(map(str, r["plot"]["labels"])), []).append(r)
    panels: list[tuple[str, Sequence[dict[str, Any]]]] = []
    if qq:
        panels.append(("qq", qq))
    if qq2:
        panels.append(("qq2", qq2))
    panels += [("counts", group) for group in by_labels.values()]

    fig = Figure(figsize=(3.3 * len(panels), 2.7), dpi=85)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (kind, group) in zip(axes, panels):
        if kind == "qq":
            _qq(ax, group, "law", "sample", "sample vs documented law")
        elif kind == "qq2":
            _qq(ax, group, "a", "b", "two samples")
        else:
            _counts(ax, group)
        ax.tick_params(labelsize=7)
        ax.locator_params(axis="y", nbins=5)
        if kind != "counts":
            ax.locator_params(axis="x", nbins=5)
        ax.grid(alpha=0.3)
        if len(group) <= 6:
            ax.legend(fontsize=6, frameon=False)
    fig.tight_layout(pad=0.4)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
