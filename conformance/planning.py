"""Planning a run, as pure functions of the catalogue, a profile and the
installed framework's identity: which clauses apply (and why not), which known
deviations cover which clause, and which profile entries can never match (so a
profile cannot rot). The pytest plugin calls these; unit tests call them
directly."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from conformance.deviations import Deviation
from conformance.profile import CAPABILITY_DOCS, Facts, Profile
from conformance.spec import Catalogue, Clause


def not_applicable(clause: Clause, profile: Profile, facts: Facts) -> str | None:
    """Why ``clause`` does not apply to the framework of ``profile`` (with the
    installed version's ``facts``), or ``None`` when it applies."""
    name = profile.name
    if clause.id in profile.unsupported:
        return f"{name} does not support {clause.id}: {profile.unsupported[clause.id]}"
    if clause.attributed and clause.id not in profile.attributed:
        return f"a claim the editions make of other frameworks; none attributes it to {name}"
    for cap in clause.requires:
        if cap not in facts.capabilities:
            return f"{name} has no {cap.replace('_', ' ')} ({CAPABILITY_DOCS[cap]})"
    return None


@dataclass
class DeviationPlan:
    """The profile's known deviations for one run."""

    matched: dict[str, Deviation] = field(default_factory=dict)  # clause id -> the entry covering it
    stale: list[dict[str, Any]] = field(default_factory=list)  # entries that can never match, with why


def profile_problems(catalogue: Catalogue, profile: Profile) -> list[dict[str, Any]]:
    """Entries of the profile's [unsupported] and [attributed] tables naming a
    clause the catalogue does not have, in the shape of a stale deviation."""
    out = []
    for table in ("unsupported", "attributed"):
        for i, (cid, text) in enumerate(getattr(profile, table).items(), start=1):
            if cid not in catalogue:
                out.append({"clause": cid, "versions": "*", "reason": text, "link": "", "file": profile.file,
                            "line": i, "problem": f"unknown clause (in [{table}])"})
    return out


def plan_deviations(
    catalogue: Catalogue, profile: Profile, facts: Facts, version: str | None, backend: str | None
) -> DeviationPlan:
    """Which deviations of ``profile`` cover a clause at ``version`` on
    ``backend``; an entry for an unknown clause, or for a clause that cannot
    apply to the framework, is stale."""
    plan = DeviationPlan()
    for d in profile.deviations:
        problem = None
        if d.clause not in catalogue:
            problem = "unknown clause"
        else:
            why = not_applicable(catalogue[d.clause], profile, facts)
            if why is not None:
                problem = f"clause does not apply: {why}"
        if problem:
            plan.stale.append(
                {"clause": d.clause, **d.as_dict(), "file": d.file, "line": d.line, "problem": problem}
            )
        elif d.matches(d.clause, version, backend):
            plan.matched.setdefault(d.clause, d)
    return plan
