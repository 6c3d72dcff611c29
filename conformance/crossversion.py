"""Checkpoints across releases: files saved by release A, loaded by release B.

A clause about two releases cannot be decided inside one environment. The
clause ``serialisation.across-releases`` is therefore checked in two steps,
each in the environment of one release (:mod:`conformance.releases`):

1. ``python -m conformance.crossversion save --framework F --out DIR`` in A's
   environment builds each of :data:`CASES` that A can build, gives it fixed
   parameter values, computes its output on a fixed input, and saves its
   weights (and the whole model, where A can) with the adapter, i.e. with the
   framework's documented save idiom; ``DIR/manifest.json`` records A's
   identity, the values, the input and A's output.
2. In B's environment, the catalogue's property for the clause runs with
   ``--checkpoints-from DIR`` (``conformance run -k ... --checkpoints-from
   DIR``): it loads A's files into models B builds, with B's documented load
   idiom in every load mode B documents, and checks that every parameter comes
   back bit for bit, that the model computes the same function as the
   reference forward pass on those values (on drawn inputs), and that shared
   parameters are still one object. It applies only where B's profile
   documents that B loads what A saved (``[checkpoints]``); without
   ``--checkpoints-from`` a catalogue run reports the clause not applicable,
   saying so. ``python -m conformance.crossversion check`` runs the same checks
   on the fixed input, aspect by aspect, for the table.

``conformance cross-version`` does both for every ordered pair of the given
releases and writes ``<framework>.json`` and ``<framework>.md``: one row per
(A, B), with the clause's verdict in B and what breaks.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from conformance.adapters.base import Adapter, Model, NotApplicable
from conformance.arch import Arch, Kind
from conformance.arch import Path as ArchPath
from conformance.strategies import CHAPTER_MLP, CHAPTER_TIED, MXNET_SHARED, NESTED_CUSTOM, TIED_ACROSS_BLOCKS

MANIFEST = "manifest.json"
CLAUSE = "serialisation.across-releases"
#: The networks saved by one release and loaded by another: the chapter's
#: MLP, its tied network (one layer twice in a container, where the framework
#: can build that, and each use in a block of its own), parameters shared by
#: distinct layers, and user-defined layers in nested user-defined blocks.
CASES: dict[str, Arch] = {
    "mlp": CHAPTER_MLP,
    "tied-across-blocks": TIED_ACROSS_BLOCKS,
    "tied-repeated": CHAPTER_TIED,
    "shared-parameters": MXNET_SHARED,
    "custom": NESTED_CUSTOM,
}
SAVE_SEED, LOAD_SEED = 0, 1
Values = dict[tuple[ArchPath, Kind], np.ndarray]


def _key(ref: tuple[ArchPath, Kind]) -> str:
    return f"{'.'.join(map(str, ref[0]))}/{ref[1]}"


def _unkey(text: str) -> tuple[ArchPath, Kind]:
    path, kind = text.rsplit("/", 1)
    return tuple(int(i) for i in path.split(".") if i != ""), kind  # type: ignore[return-value]


def buildable(adapter: Adapter, arch: Arch) -> str | None:
    """Why ``adapter`` cannot build ``arch`` (a capability it lacks), or None."""
    caps = adapter.facts.capabilities
    for needed, cap in (
        (arch.shares_params(), "param_sharing"),
        (arch.shares_transposed(), "transposed_sharing"),
        (arch.has_custom(), "custom_layers"),
        (arch.repeats_in_container(), "repeated_child"),
    ):
        if needed and cap not in caps:
            return f"{adapter.name} {adapter.version()} has no {cap}"
    return None


def build(adapter: Adapter, arch: Arch, seed: int) -> Model:
    from conformance.properties._support import with_accepted_names

    adapter.seed(seed)
    return adapter.build(with_accepted_names(adapter, arch))


def fixed_values(arch: Arch) -> tuple[Values, np.ndarray]:
    """The values every release saves, and the input it computes: a seeded
    numpy generator's, the same in every release."""
    rng = np.random.default_rng(20240601)
    values = {ref: rng.uniform(-1, 1, shape).astype(np.float32) for ref, shape in arch.param_shapes().items()}
    return values, rng.uniform(-1, 1, (4, arch.input_dim)).astype(np.float32)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {' '.join(str(exc).split())[:600]}"


def save(adapter: Adapter, out: Path) -> dict[str, Any]:
    """Save every case ``adapter`` can build into ``out``; write and return the manifest."""
    out.mkdir(parents=True, exist_ok=True)
    cases = []
    for name, arch in CASES.items():
        entry: dict[str, Any] = {"case": name, "saved": False, "model_saved": False, "reason": None}
        why = buildable(adapter, arch)
        if why is None:
            try:
                model = build(adapter, arch, SAVE_SEED)
                values, x = fixed_values(arch)
                adapter.write_params(model, values)
                y = np.asarray(adapter.forward(model, x))
                (out / name).mkdir(exist_ok=True)
                adapter.save_weights(model, out / name / "weights")
                entry.update(
                    saved=True,
                    x=x.tolist(),
                    y=y.tolist(),
                    values={_key(k): v.tolist() for k, v in values.items()},
                )
            except NotApplicable as exc:
                why = f"not buildable: {exc}"
            if entry["saved"] and "whole_model_save" in adapter.facts.capabilities:
                try:
                    adapter.save_model(model, out / name / "model")
                    entry["model_saved"] = True
                except Exception as exc:  # recorded: B then has no whole model to load
                    entry["model_reason"] = f"saving the whole model failed: {_describe(exc)}"
        entry["reason"] = why
        cases.append(entry)
    manifest = {"framework": adapter.describe(), "backend_version": _backend_version(adapter), "cases": cases}
    (out / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    return manifest


def _backend_version(adapter: Adapter) -> str | None:
    from conformance.plugin import _module_version

    info = adapter.describe()
    return info.get("backend_version") or _module_version(info.get("backend"))


def read_manifest(directory: Path) -> dict[str, Any]:
    return json.loads((Path(directory) / MANIFEST).read_text(encoding="utf-8"))


def saved_values(entry: dict[str, Any]) -> Values:
    return {_unkey(k): np.asarray(v, dtype=np.float32) for k, v in entry["values"].items()}


def promised(adapter: Adapter, manifest: dict[str, Any], kind: str) -> str | None:
    """Why ``adapter``'s release is not promised to load ``kind`` files of
    the manifest's release, or None when its profile documents that it is."""
    saved = manifest["framework"]["version"]
    loaded = adapter.version()
    promise = adapter.profile.checkpoints.get(kind)
    if manifest["framework"]["name"] != adapter.name:
        return f"the files were saved by {manifest['framework']['name']}, not {adapter.name}"
    if promise is None:
        return f"{adapter.name} documents no cross-release promise for {kind} files"
    if not promise.covers(saved, loaded):
        return (
            f"{adapter.name} documents that releases {promise.loaded_by or 'any'} load the {kind} files of "
            f"releases {promise.saved_by or 'any'} not newer than themselves; "
            f"{saved} -> {loaded} is not covered"
        )
    return None


Check = Callable[[], None]


def checks(
    adapter: Adapter,
    directory: Path,
    entry: dict[str, Any],
    x: np.ndarray,
    *,
    kinds: Sequence[str] = ("weights", "model"),
    seed: int = LOAD_SEED,
) -> list[tuple[str, str, Check]]:
    """The checks of one saved case, as (kind, load mode, check) triples:
    each check raises ``AssertionError`` naming what breaks (a load that
    raises is one), or ``NotApplicable``."""
    from conformance.properties._support import (
        assert_close,
        assert_same_values,
        assert_shared,
        forward_tolerance,
    )
    from conformance.reference import functional

    arch = CASES[entry["case"]]
    values = saved_values(entry)
    expected = functional.forward(
        arch, {k: v.astype(np.float64) for k, v in values.items()}, x.astype(np.float64)
    )
    tol = forward_tolerance(adapter, arch, values, x)
    base = Path(directory) / entry["case"]

    def verify(model: Model, how: str, params: bool) -> None:
        if params:
            for key, v in adapter.read_params(model, arch).items():
                assert_same_values(v, values[key], f"{how}: the {key[1]} at {key[0]}")
        assert_close(adapter.forward(model, x), expected, tol, f"{how}: the forward output")
        assert_shared(adapter, model, arch, how)

    out: list[tuple[str, str, Check]] = []
    if "weights" in kinds:
        for mode in adapter.facts.load_modes:

            def weights(mode: str = mode) -> None:
                fresh = build(adapter, arch, seed)
                how = f"weights saved by {entry.get('saved_by', 'A')}, loaded in mode {mode!r}"
                try:
                    model = adapter.load_weights(fresh, base / "weights", mode)
                except (NotApplicable, AssertionError):
                    raise
                except Exception as exc:
                    raise AssertionError(f"{how}: the load raised {_describe(exc)}") from exc
                verify(model, how, params=True)

            out.append(("weights", mode, weights))
    if "model" in kinds and entry.get("model_saved") and "whole_model_save" in adapter.facts.capabilities:

        def model() -> None:
            how = f"the whole model saved by {entry.get('saved_by', 'A')}"
            try:
                loaded = adapter.load_model(base / "model")
            except NotApplicable:
                raise
            except Exception as exc:
                raise AssertionError(f"{how}: the load raised {_describe(exc)}") from exc
            verify(loaded, how, params=False)

        out.append(("model", "load_model", model))
    return out


def check(adapter: Adapter, directory: Path) -> dict[str, Any]:
    """Every check of every saved case on the saved input: what the table shows."""
    manifest = read_manifest(directory)
    rows = []
    for entry in manifest["cases"]:
        entry = {**entry, "saved_by": manifest["framework"]["version"]}
        if not entry["saved"]:
            rows.append(
                {
                    "case": entry["case"],
                    "kind": "weights",
                    "mode": None,
                    "status": "not-saved",
                    "what": entry["reason"],
                }
            )
            continue
        why = buildable(adapter, CASES[entry["case"]])
        if why:
            rows.append(
                {
                    "case": entry["case"],
                    "kind": "weights",
                    "mode": None,
                    "status": "not-buildable",
                    "what": why,
                }
            )
            continue
        for kind, mode, run in checks(adapter, directory, entry, np.asarray(entry["x"], dtype=np.float32)):
            try:
                run()
                status, what = "ok", None
            except NotApplicable as exc:
                status, what = "not-applicable", str(exc)
            except AssertionError as exc:
                status, what = "broken", " ".join(str(exc).split())[:800]
            except Exception as exc:  # a check that could not run: shown, never hidden
                status, what = "error", _describe(exc)
            rows.append(
                {
                    "case": entry["case"],
                    "kind": kind,
                    "mode": mode,
                    "status": status,
                    "what": what,
                    "promised": promised(adapter, manifest, kind) is None,
                }
            )
        if entry.get("model_reason"):
            rows.append(
                {
                    "case": entry["case"],
                    "kind": "model",
                    "mode": None,
                    "status": "not-saved",
                    "what": entry["model_reason"],
                }
            )
    return {
        "saved_by": manifest["framework"],
        "loaded_by": adapter.describe(),
        "promise": {k: promised(adapter, manifest, k) for k in ("weights", "model")},
        "checks": rows,
    }


# -- the table over pairs of releases (driven by `conformance cross-version`) -------------


def summarise(checks: Sequence[dict[str, Any]], kind: str) -> str:
    """One cell: how the checks of ``kind`` went, over every case and mode."""
    mine = [c for c in checks if c["kind"] == kind and c["status"] in ("ok", "broken", "error")]
    if not mine:
        return "-"
    bad = [c for c in mine if c["status"] != "ok"]
    return "ok" if not bad else f"{len(bad)}/{len(mine)} broken"


def breaks(checks: Sequence[dict[str, Any]]) -> list[str]:
    """What breaks, once per distinct problem (case and mode named)."""
    out: dict[str, None] = {}
    for c in checks:
        if c["status"] in ("broken", "error"):
            out[f"{c['case']} ({c['kind']}, {c['mode']}): {c['what']}"] = None
    return list(out)


def render(doc: dict[str, Any]) -> str:
    on = f" on {doc['backend']}" if doc.get("backend") else ""
    out = [f"# Checkpoints across releases: {doc['framework']}{on}", ""]
    out += [
        f"Files saved by release A (rows) and loaded by release B, for every ordered pair of "
        f"{', '.join(doc['versions'])} (A = B is the control). Each A saves the networks of "
        f"`conformance.crossversion.CASES` it can build ({', '.join(CASES)}) with fixed values; B loads the "
        f"weights into a model it builds, in every load mode it documents, and the whole model where both "
        f"can. *weights* / *model*: the checks (values bit for bit, the forward pass, shared parameters "
        f"still shared) that passed, over cases and modes. *promised*: whether B's profile documents that B "
        f"loads A's files ([checkpoints]); *clause*: the verdict of `{CLAUSE}` in B given A's files "
        f"(not applicable where nothing is promised).",
        "",
        "| saved by A | loaded by B | promised (weights / model) | clause | weights | whole model "
        "| what breaks |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in doc["rows"]:
        prom = " / ".join("yes" if r["promise"].get(k) is None else "no" for k in ("weights", "model"))
        what = "; ".join(r["breaks"][:4]) + (
            f"; ... ({len(r['breaks'])} in all)" if len(r["breaks"]) > 4 else ""
        )
        if r.get("problem"):
            what = r["problem"]
        out.append(
            f"| {r['saved_by']} | {r['loaded_by']} | {prom} | {r['verdict'] or '-'} | "
            f"{summarise(r['checks'], 'weights')} | {summarise(r['checks'], 'model')} | "
            f"{what.replace('|', '/') or '-'} |"
        )
    out += ["", "Environments:", ""]
    for v, fw in doc["environments"].items():
        out.append(f"- {v}: " + ", ".join(f"{k} {x}" for k, x in fw.items()))
    s = doc["settings"]
    out += ["", f"Clause runs: seed {s['seed']}, {s['max_examples']} examples; {doc['timestamp']}.", ""]
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    """``save`` / ``check``, run inside one release's environment."""
    from conformance import adapters as registry

    p = argparse.ArgumentParser(prog="python -m conformance.crossversion")
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("save")
    s.add_argument("--framework", required=True)
    s.add_argument("--out", required=True)
    c = sub.add_parser("check")
    c.add_argument("--framework", required=True)
    c.add_argument("--from", dest="source", required=True)
    c.add_argument("--out", required=True)
    args = p.parse_args(argv)
    adapter = registry.adapter_class(args.framework)()
    if args.cmd == "save":
        manifest = save(adapter, Path(args.out))
        print(json.dumps({e["case"]: e["saved"] for e in manifest["cases"]}))
    else:
        result = check(adapter, Path(args.source))
        Path(args.out).write_text(json.dumps(result, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    import os

    os._exit(code)  # TensorFlow 2.15 may crash while the interpreter finalises (see conformance.cli.console)
