"""A short Markdown summary of a report dict (the JSON report is the record;
this is what a person reads in CI output or a pull request)."""

from __future__ import annotations

from typing import Any

from conformance.reporting.model import VERDICTS

ICON = {"holds": "holds", "violated": "**violated**", "not-applicable": "n/a", "error": "**error**"}


def _cell(text: Any) -> str:
    # Table cells cannot hold newlines or bare pipes.
    return " ".join(str(text).split()).replace("|", "\\|")


def _fence(text: str) -> list[str]:
    fence = "~~~~" if "```" in text else "```"
    return [fence, text.rstrip(), fence]


def _wrong_everywhere(result: dict[str, Any]) -> bool:
    """A violation its known-deviations entry lists for every version ("*"):
    the claim was never true of this framework, which is not the same as stale."""
    kd = result["known_deviation"]
    return result["verdict"] == "violated" and kd is not None and kd["versions"] == "*"


def render(report: dict[str, Any]) -> str:
    fw = report["framework"]
    budget = report["error_budget"]
    settings = report["settings"]
    ident = f"{fw['name']} {fw['version'] or '(not installed)'}"
    if fw.get("backend"):
        ident += f" ({fw['backend']})"
    out = [
        f"# Conformance: {ident}",
        "",
        f"- framework: `{fw['name']}`, version `{fw['version'] or '-'}`, backend `{fw['backend'] or '-'}`, "
        f"installed: {'yes' if fw['installed'] else 'no'}",
        f"- catalogue: {report['catalogue_version']}",
        f"- seed: `{report['seed']}`" + (" (derandomized)" if settings["derandomize"] else ""),
        f"- started: {report['timestamp']}, duration: {report['duration']:.1f} s",
        f"- examples: {settings['max_examples']} per property"
        + (f", {settings['stat_examples']} per statistical property" if settings["stat_examples"] else ""),
        f"- false-alarm budget: {budget['total']:.3g} ({budget['correction']} over "
        f"{budget['statistical_tests']} statistical tests, {budget['per_test']:.3g} each)",
        f"- python {report['python']} on {report['platform']}",
        "",
    ]
    summary = report["summary"]
    counts = ", ".join(f"{summary[v]} {v}" for v in VERDICTS)
    state = "as expected" if summary["unexpected"] == 0 else f"**{summary['unexpected']} unexpected**"
    out += [f"**{len(report['results'])} clauses:** {counts}; {state}.", ""]

    if report["results"]:
        out += ["| clause | verdict | expected | note |", "|---|---|---|---|"]
        for r in report["results"]:
            note = r["reason"] or ""
            if r["known_deviation"]:
                note = note or f"known deviation: {r['known_deviation']['reason']}"
            out.append(
                f"| `{r['spec']}` {_cell(r['title'])} | {ICON[r['verdict']]} | "
                f"{'yes' if r['expected'] else '**no**'} | {_cell(note)} |"
            )
        out.append("")

    bad = [r for r in report["results"] if r["verdict"] in ("violated", "error")]
    if bad:
        out += ["## Violations and errors", ""]
        for r in bad:
            ev = r["evidence"]
            tag = "known deviation" if r["known_deviation"] and r["verdict"] == "violated" else r["verdict"]
            out += [f"### `{r['spec']}`: {r['title']} ({tag})", "", f"> {r['statement']}", ""]
            if r["known_deviation"]:
                kd = r["known_deviation"]
                if _wrong_everywhere(r):
                    claim = (
                        f"**The sources' claim is wrong for every version of {fw['name']}**, not only stale."
                    )
                    out += [claim, ""]
                out += [f"Known deviation for {kd['versions']}: {kd['reason']} ({kd['link']})", ""]
            if ev["message"]:
                out += ["Message:", "", *_fence(ev["message"]), ""]
            if ev["counterexample"]:
                out += ["Counterexample:", "", *_fence(ev["counterexample"]), ""]
            # Hypothesis replays a failing example once to report it, so the same
            # failed check can be recorded twice; show it once.
            keys = ("label", "test", "n", "statistic", "p_value")
            failed = list(
                {tuple(s[k] for k in keys): s for s in ev["statistics"] if s.get("passed") is False}.values()
            )
            for s in failed:
                rel = ">=" if s.get("expect") == "differ" else "<"
                out.append(
                    f"- {s['label']}: {s['test']} n={s['n']} statistic={s['statistic']:.6g} "
                    f"p={s['p_value']:.3g} {rel} alpha={s['alpha']:.3g}"
                )
            if failed:
                out.append("")
            if ev["reproduce"]:
                out += ["Reproduce:", "", *_fence(ev["reproduce"]), ""]

    stale = [r for r in report["results"] if r["known_deviation"] and r["verdict"] == "holds"]
    if stale or report["stale_deviations"]:
        out += ["## Stale known deviations", ""]
        for r in stale:
            out.append(f"- `{r['spec']}` is listed as a known deviation but holds: remove the entry")
        for s in report["stale_deviations"]:
            out.append(f"- {s['file']}:{s['line']}: `{s['clause']}`: {s['problem']}")
        out.append("")

    docs: dict[str, dict[str, list[str]]] = {}
    for r in report["results"]:
        for src in r["sources"]:
            ids = docs.setdefault(src["document"], {v: [] for v in VERDICTS})[r["verdict"]]
            entry = f"`{r['spec']}`" + (" (wrong for every version)" if _wrong_everywhere(r) else "")
            if entry not in ids:
                ids.append(entry)
    if docs:
        out += [
            "## By source document",
            "",
            "| document | holds | violated | not applicable | error |",
            "|---|---|---|---|---|",
        ]
        for doc in sorted(docs):
            cells = [", ".join(docs[doc][v]) or "-" for v in VERDICTS]
            out.append(f"| {_cell(doc)} | " + " | ".join(cells) + " |")
        out.append("")
    return "\n".join(out)
