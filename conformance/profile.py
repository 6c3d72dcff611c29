"""A framework's profile: its documented facts, the clauses it does not
support, the claims the editions attribute to it, and its known deviations.

The catalogue's clauses name no framework (``specs/``). Everything that is
particular to one framework is data in that framework's profile, a TOML file
shipped beside its adapter (``conformance/frameworks/<name>/profile.toml``,
or the same pair in a third-party package registered by entry point)::

    [framework]
    name = "torch"                 # the entry-point name
    distribution = "torch"         # whose version the report gives
    module = "torch"               # the import that proves it is installed

    [install]                      # installing one release in an environment of its own
    installable = "==2.13.0"       # optional: the only releases that can be installed, and why
    reason = "..."
    backends = {tensorflow = {KERAS_BACKEND = "tensorflow"}}   # optional: backend -> its env variables
    [[install.pins]]               # what goes beside a release, by version range (and backend)
    versions = "<3"
    backend = "tensorflow"
    requires = ["tensorflow-cpu==2.15.1"]

    [checkpoints]                  # documented: files saved by one release load in another
    weights = {saved_by = "*", loaded_by = ">=3", doc = "https://..."}
    model = {saved_by = ">=2.13", loaded_by = ">=3", doc = "https://..."}

    [facts]                        # documented facts the clauses check against
    weight_layout = "out_in"
    load_modes = ["strict", "non-strict", "assign"]
    capabilities = ["deferred_init", "grad_slot", ...]
    initial_grad = "none"
    default_weight = {family = "uniform", fan = "fan_in", scale = 1.0}
    default_bias = {family = "uniform", fan = "fan_in", scale = 1.0}

    [docs]                         # where each fact is documented
    weight_layout = "https://pytorch.org/docs/stable/generated/torch.nn.Linear.html"

    [[variants]]                   # facts that differ by version or backend
    versions = "<3"
    facts = {load_modes = ["tf_checkpoint", "h5"]}

    [unsupported]                  # clause id -> the documented reason it cannot apply
    "tied.state-dict-every-key" = "..."

    [attributed]                   # framework-specific claims: clause id -> where an edition makes it
    "default-init.range-from-in-and-out" = "002 Khởi tạo tham số; 001 5.2.2"

    [[deviations]]                 # known violations, each with its evidence
    clause = "default-init.range-from-in-and-out"
    versions = "*"
    reason = "..."
    link = "https://..."
    backend = "tensorflow"         # optional: only runs on that backend

A malformed profile raises :class:`ProfileError` naming the file, the table
and the problem, so a typo never silently disables an entry.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet

from conformance.deviations import Deviation, version_in
from conformance.spec import ID_RE

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

# The capabilities a clause or a test may require, each with what having it
# means. A profile declaring an unknown one is rejected.
CAPABILITY_DOCS: dict[str, str] = {
    "deferred_init": "layers built with unknown input dimensions, inferred at the first forward pass",
    "explicit_initialize": "a separate initialise step with a force_reinit rule (Gluon's net.initialize)",
    "pattern_selection": "selecting parameters by a name pattern (collect_params('.*weight'))",
    "whole_model_save": "saving and loading a whole model, not only its weights",
    "block_names": "containers that accept caller-chosen names for their children",
    "custom_initializer": "user-defined initialisers through the framework's own mechanism",
    "repeated_child": (
        "one layer object at two positions of the same container, each position listed and applied "
        "(the chapter's Sequential(..., shared, ReLU(), shared, ...))"
    ),
    "grad_slot": "parameters that hold their gradient (p.grad, p.grad()), filled by a backward pass",
    "structural_state_dict": "a state dict keyed by position in the model (state_dict()['2.bias'])",
    "positional_names": "parameter names derived from positions in the model (0.weight, 2.bias)",
    "counter_names": "layer names generated from a process-wide counter (dense0_, dense_3)",
    "param_sharing": (
        "distinct layers sharing one parameter object, made by the framework's documented idiom "
        "(Gluon's nn.Dense(8, params=shared.params), torch's b.weight = a.weight)"
    ),
    "transposed_sharing": "a layer applying another layer's weight transposed (a tied autoencoder's decoder)",
    "custom_layers": (
        "user-defined layers and blocks written with the framework's layer API (a parameter created at "
        "construction, another once the input shape is known; children held as attributes)"
    ),
    "model_copy": (
        "documented operations making a model from another (copy.deepcopy, clone_model, nnx split/merge)"
    ),
    "in_memory_state": (
        "a model's parameters as an in-memory state object that another model can load "
        "(state_dict/load_state_dict, get_weights/set_weights, nnx.state/nnx.update)"
    ),
    "cross_version_checkpoints": (
        "documentation promising that files saved by one release load in another (the profile's "
        "[checkpoints] table, which gives this capability)"
    ),
}
CAPABILITIES = frozenset(CAPABILITY_DOCS)
LAW_FAMILIES = ("uniform", "normal", "truncated_normal", "zeros")
LAW_KEYS = ("family", "fan", "scale", "bound", "std", "mean", "doc")
FANS = ("fan_in", "fan_out", "fan_avg")
SECTIONS = (
    "framework", "install", "checkpoints", "facts", "docs", "variants", "unsupported", "attributed",
    "deviations",
)
CHECKPOINT_KINDS = ("weights", "model")
DEVIATION_KEYS = ("clause", "versions", "reason", "link", "backend")


class ProfileError(ValueError):
    """A malformed profile; the message names the file, the table and the problem."""

    def __init__(self, file: str, where: str | None, problem: str) -> None:
        super().__init__(f"{file}{', ' + where if where else ''}: {problem}")
        self.file, self.where, self.problem = file, where, problem


@dataclass(frozen=True)
class Facts:
    """What a framework documents and the suite needs to drive and check it.
    Nothing here is a verdict: each fact is what an observation is checked
    against (a clause) or how the adapter is driven (layouts, load modes)."""

    # The weight layout the adapter converts from and to, and that
    # access.weight-layout checks the observed native shape against.
    weight_layout: Literal["out_in", "in_out"]
    # Characters a block name may not contain (where block_names is a capability).
    forbidden_name_chars: str = ""
    name_separator: str = "."
    # Loading modes the framework documents for weights ("strict", ...).
    load_modes: tuple[str, ...] = ("default",)
    # Absolute and relative tolerance for float32 comparison with the reference.
    atol: float = 1e-5
    rtol: float = 1e-4
    capabilities: frozenset[str] = field(default_factory=frozenset)
    # The gradient slot before any backward pass ("none" or "zeros"); needed
    # where the framework has a grad_slot (access.grad-before-backward).
    initial_grad: Literal["none", "zeros"] | None = None
    # The documented default laws of a dense layer's weight and bias
    # (default-init.documented-weight / -bias): see conformance.properties._laws.
    default_weight: Mapping[str, Any] = field(default_factory=dict)
    default_bias: Mapping[str, Any] = field(default_factory=dict)
    # Whether the built-in normal initialiser takes a mean ("any") or is
    # centred only ("zero-only", MXNet's Normal(sigma)).
    normal_mean: Literal["any", "zero-only"] = "any"
    # Whether the built-in Xavier normal is documented as truncated at 2 std.
    xavier_normal_truncated: bool = False
    # Documented operations making a model from another model (copy.deepcopy,
    # keras.models.clone_model, nnx split/merge), for aliasing.copy-independent.
    copy_ops: tuple[str, ...] = ()
    # Modes of loading an in-memory state object (capability in_memory_state).
    state_load_modes: tuple[str, ...] = ()
    # The copy operations and state load modes documented to make the result
    # share parameter storage with its source (torch's load_state_dict(assign=True)).
    aliasing: tuple[str, ...] = ()
    # Where each fact is documented: fact name -> link or citation.
    docs: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = set(self.capabilities) - CAPABILITIES
        if unknown:
            raise ValueError(f"unknown capabilities {sorted(unknown)}; known: {sorted(CAPABILITIES)}")
        stray = set(self.aliasing) - set(self.copy_ops) - set(self.state_load_modes)
        if stray:
            raise ValueError(f"aliasing names {sorted(stray)}, neither copy_ops nor state_load_modes")

    def law(self, role: Literal["weight", "bias"]) -> dict[str, Any]:
        """The documented default law of ``role``, with its doc link as ``doc``."""
        law = dict(self.default_weight if role == "weight" else self.default_bias)
        doc = self.docs.get(f"default_{role}")
        if doc and "doc" not in law:
            law["doc"] = doc
        return law


FACT_FIELDS = {f.name: f for f in dataclasses.fields(Facts) if f.name != "docs"}


@dataclass(frozen=True)
class Variant:
    """Facts that differ for some versions and/or one backend."""

    versions: SpecifierSet | None
    backend: str | None
    facts: Mapping[str, Any]

    def matches(self, version: str | None, backend: str | None) -> bool:
        if self.backend is not None and backend != self.backend:
            return False
        return self.versions is None or version_in(version, self.versions)


@dataclass(frozen=True)
class Pin:
    """Requirements installed beside the releases in ``versions`` (on ``backend``)."""

    versions: SpecifierSet | None
    backend: str | None
    requires: tuple[str, ...]


@dataclass(frozen=True)
class Install:
    """How to install one release of the framework in an environment of its
    own (``conformance bisect``, ``conformance cross-version``): the
    requirements beside it by version range and backend, each backend's
    environment variables, and the releases that can be installed at all."""

    pins: tuple[Pin, ...] = ()
    backends: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    installable: SpecifierSet | None = None
    reason: str = ""

    def requirements(self, version: str, backend: str | None) -> list[str]:
        """Every requirement of the pins matching ``version`` on ``backend``, in file order."""
        out: list[str] = []
        for p in self.pins:
            in_range = p.versions is None or version_in(version, p.versions)
            if (p.backend is None or p.backend == backend) and in_range:
                out += [r for r in p.requires if r not in out]
        return out

    def refusal(self, version: str) -> str | None:
        """Why ``version`` cannot be installed, or None."""
        if self.installable is not None and not version_in(version, self.installable):
            return f"only {self.installable} can be installed: {self.reason}"
        return None


@dataclass(frozen=True)
class Promise:
    """What the framework documents: files saved by a release in ``saved_by``
    load in any release in ``loaded_by`` that is not older than it."""

    saved_by: SpecifierSet | None
    loaded_by: SpecifierSet | None
    doc: str

    def covers(self, saved: str, loaded: str) -> bool:
        from packaging.version import Version

        if Version(Version(loaded).public) < Version(Version(saved).public):
            return False
        return (self.saved_by is None or version_in(saved, self.saved_by)) and (
            self.loaded_by is None or version_in(loaded, self.loaded_by))


@dataclass(frozen=True)
class Profile:
    name: str
    distribution: str
    module: str
    file: str
    facts: Facts
    variants: tuple[Variant, ...] = ()
    unsupported: Mapping[str, str] = field(default_factory=dict)
    attributed: Mapping[str, str] = field(default_factory=dict)
    deviations: tuple[Deviation, ...] = ()
    install: Install = field(default_factory=Install)
    #: "weights" / "model" -> the documented cross-release promise ([checkpoints])
    checkpoints: Mapping[str, Promise] = field(default_factory=dict)

    def facts_for(self, version: str | None, backend: str | None) -> Facts:
        """The facts of ``version`` on ``backend``: the base facts, each matching
        variant (in file order) replacing the facts it names."""
        changes: dict[str, Any] = {}
        for v in self.variants:
            if v.matches(version, backend):
                changes.update(v.facts)
        return dataclasses.replace(self.facts, **changes) if changes else self.facts


def _specifier(text: Any, file: str, where: str) -> SpecifierSet | None:
    if text == "*":
        return None
    if not isinstance(text, str) or not text:
        raise ProfileError(file, where, f"versions must be a PEP 440 range or '*', got {text!r}")
    try:
        return SpecifierSet(text)
    except InvalidSpecifier:
        raise ProfileError(file, where, f"{text!r} is not a PEP 440 version range (or '*')") from None


def _law(raw: Any, file: str, where: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise ProfileError(file, where, "a law is a table {family = ..., fan/scale or bound/std}")
    extra = set(raw) - set(LAW_KEYS)
    if extra:
        raise ProfileError(file, where, f"unknown keys {sorted(extra)}; allowed: {', '.join(LAW_KEYS)}")
    family = raw.get("family")
    if family not in LAW_FAMILIES:
        raise ProfileError(file, where, f"family must be one of {', '.join(LAW_FAMILIES)}, got {family!r}")
    if family != "zeros" and not ({"bound", "std"} & set(raw)) and raw.get("fan") not in FANS:
        raise ProfileError(
            file, where, f"a {family} law needs a fixed bound/std or a fan of {', '.join(FANS)}"
        )
    return dict(raw)


def _facts(raw: Any, file: str, where: str, *, partial: bool) -> dict[str, Any]:
    """Validated keyword arguments of :class:`Facts` (all of them unless ``partial``)."""
    if not isinstance(raw, dict):
        raise ProfileError(file, where, "must be a table")
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in FACT_FIELDS:
            raise ProfileError(file, where, f"unknown fact {key!r}; known: {', '.join(FACT_FIELDS)}")
        here = f"{where}.{key}"
        if key == "weight_layout" and value not in ("out_in", "in_out"):
            raise ProfileError(file, here, f"must be 'out_in' or 'in_out', got {value!r}")
        elif key in ("forbidden_name_chars", "name_separator") and not isinstance(value, str):
            raise ProfileError(file, here, "must be a string")
        elif key in ("copy_ops", "state_load_modes", "aliasing"):
            if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
                raise ProfileError(file, here, "must be a list of names")
            value = tuple(value)
        elif key in ("load_modes", "capabilities"):
            if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
                raise ProfileError(file, here, "must be a list of names")
            if key == "capabilities":
                unknown = sorted(set(value) - CAPABILITIES)
                if unknown:
                    raise ProfileError(
                        file, here, f"unknown capabilities {unknown}; known: {sorted(CAPABILITIES)}"
                    )
                value = frozenset(value)
            else:
                if not value:
                    raise ProfileError(file, here, "needs at least one load mode")
                value = tuple(value)
        elif key in ("atol", "rtol"):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
                raise ProfileError(file, here, "must be a number >= 0")
            value = float(value)
        elif key == "initial_grad" and value not in ("none", "zeros"):
            raise ProfileError(file, here, f"must be 'none' or 'zeros', got {value!r}")
        elif key in ("default_weight", "default_bias"):
            value = _law(value, file, here)
        elif key == "normal_mean" and value not in ("any", "zero-only"):
            raise ProfileError(file, here, f"must be 'any' or 'zero-only', got {value!r}")
        elif key == "xavier_normal_truncated" and not isinstance(value, bool):
            raise ProfileError(file, here, "must be true or false")
        out[key] = value
    if not partial:
        for key in ("weight_layout", "default_weight", "default_bias"):
            if key not in out:
                raise ProfileError(file, where, f"missing fact {key!r}")
    return out


def _clause_table(raw: Any, file: str, where: str) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ProfileError(file, where, "must map clause id to a non-empty reason")
    for cid, why in raw.items():
        if not ID_RE.match(cid):
            raise ProfileError(file, where, f"{cid!r} is not a clause id (area.name)")
        if not isinstance(why, str) or not why.strip():
            raise ProfileError(file, f"{where}.{cid}", "needs a non-empty reason")
    return {k: " ".join(v.split()) for k, v in raw.items()}


def _deviations(raw: Any, file: str) -> tuple[Deviation, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ProfileError(file, "deviations", "must be an array of tables ([[deviations]])")
    out = []
    for i, d in enumerate(raw, start=1):
        where = f"deviations #{i}"
        if not isinstance(d, dict):
            raise ProfileError(file, where, "must be a table")
        extra = set(d) - set(DEVIATION_KEYS)
        if extra:
            raise ProfileError(
                file, where, f"unknown keys {sorted(extra)}; allowed: {', '.join(DEVIATION_KEYS)}"
            )
        for key in DEVIATION_KEYS[:4]:
            if not isinstance(d.get(key), str) or not d[key].strip():
                raise ProfileError(file, where, f"needs a non-empty string {key!r}")
        if not ID_RE.match(d["clause"]):
            raise ProfileError(file, where, f"{d['clause']!r} is not a clause id (area.name)")
        _specifier(d["versions"], file, where)
        backend = d.get("backend")
        if backend is not None and (not isinstance(backend, str) or not backend):
            raise ProfileError(file, where, "backend must be a non-empty string")
        out.append(
            Deviation(d["clause"], d["versions"], " ".join(d["reason"].split()), d["link"], file, i, backend)
        )
    return tuple(out)


def _string_map(raw: Any, file: str, where: str) -> dict[str, str]:
    if not isinstance(raw, dict) or not all(isinstance(v, str) for v in raw.values()):
        raise ProfileError(file, where, "must map names to strings")
    return dict(raw)


def _install(raw: Any, file: str) -> Install:
    if raw is None:
        return Install()
    if not isinstance(raw, dict):
        raise ProfileError(file, "install", "must be a table")
    extra = set(raw) - {"pins", "backends", "installable", "reason"}
    if extra:
        allowed = "pins, backends, installable, reason"
        raise ProfileError(file, "install", f"unknown keys {sorted(extra)}; allowed: {allowed}")
    backends = raw.get("backends", {})
    if not isinstance(backends, dict):
        raise ProfileError(file, "install.backends", "must map each backend to its environment variables")
    envs = {b: _string_map(e, file, f"install.backends.{b}") for b, e in backends.items()}
    installable = None
    if "installable" in raw:
        installable = _specifier(raw["installable"], file, "install.installable")
        if not isinstance(raw.get("reason"), str) or not raw["reason"].strip():
            raise ProfileError(file, "install", "installable needs a non-empty reason")
    pins = []
    for i, p in enumerate(raw.get("pins", []), start=1):
        where = f"install.pins #{i}"
        if not isinstance(p, dict) or set(p) - {"versions", "backend", "requires"} or "requires" not in p:
            raise ProfileError(file, where, "a pin is {versions = ..., backend = ..., requires = [...]}")
        reqs = p["requires"]
        if not isinstance(reqs, list) or not reqs or not all(isinstance(r, str) for r in reqs):
            raise ProfileError(file, where, "requires must be a non-empty list of requirements")
        for r in reqs:
            try:
                Requirement(r)
            except InvalidRequirement as exc:
                raise ProfileError(file, where, f"{r!r} is not a requirement: {exc}") from None
        backend = p.get("backend")
        if backend is not None and backend not in envs:
            raise ProfileError(
                file, where, f"backend {backend!r} is not one of install.backends {sorted(envs)}")
        pins.append(Pin(_specifier(p.get("versions", "*"), file, where), backend, tuple(reqs)))
    return Install(tuple(pins), envs, installable, " ".join(str(raw.get("reason", "")).split()))


def _checkpoints(raw: Any, file: str) -> dict[str, Promise]:
    if raw is None:
        return {}
    if not isinstance(raw, dict) or set(raw) - set(CHECKPOINT_KINDS):
        raise ProfileError(file, "checkpoints", f"must be a table of {', '.join(CHECKPOINT_KINDS)}")
    out = {}
    for kind, p in raw.items():
        where = f"checkpoints.{kind}"
        if not isinstance(p, dict) or set(p) != {"saved_by", "loaded_by", "doc"}:
            raise ProfileError(file, where, "is {saved_by = range, loaded_by = range, doc = link and quote}")
        if not isinstance(p["doc"], str) or not p["doc"].strip():
            raise ProfileError(file, where, "needs the documentation that promises it (doc)")
        out[kind] = Promise(_specifier(p["saved_by"], file, where), _specifier(p["loaded_by"], file, where),
                            " ".join(p["doc"].split()))
    return out


def parse_profile(text: str, file: str) -> Profile:
    """The profile in ``text``; :class:`ProfileError` if anything is malformed."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(file, None, f"invalid TOML: {exc}") from None
    extra = set(raw) - set(SECTIONS)
    if extra:
        raise ProfileError(file, None, f"unknown tables {sorted(extra)}; allowed: {', '.join(SECTIONS)}")
    fw = raw.get("framework")
    if not isinstance(fw, dict):
        raise ProfileError(file, "framework", "missing: it names the framework, its distribution and module")
    for key in ("name", "distribution", "module"):
        if not isinstance(fw.get(key), str) or not fw[key]:
            raise ProfileError(file, "framework", f"needs a non-empty string {key!r}")
    docs = raw.get("docs", {})
    if not isinstance(docs, dict) or not all(isinstance(v, str) for v in docs.values()):
        raise ProfileError(file, "docs", "must map fact name to a link or citation")
    unknown_docs = set(docs) - set(FACT_FIELDS)
    if unknown_docs:
        raise ProfileError(file, "docs", f"documents unknown facts {sorted(unknown_docs)}")
    facts = Facts(**_facts(raw.get("facts"), file, "facts", partial=False), docs=docs)
    checkpoints = _checkpoints(raw.get("checkpoints"), file)
    if "cross_version_checkpoints" in facts.capabilities and not checkpoints:
        raise ProfileError(
            file, "facts.capabilities", "cross_version_checkpoints comes from a [checkpoints] table")
    if checkpoints:  # a documented cross-release promise is the capability
        facts = dataclasses.replace(facts, capabilities=facts.capabilities | {"cross_version_checkpoints"})
    if "grad_slot" in facts.capabilities and facts.initial_grad is None:
        raise ProfileError(file, "facts", "a framework with a grad_slot documents its initial_grad")
    variants = []
    for i, v in enumerate(raw.get("variants", []), start=1):
        where = f"variants #{i}"
        if not isinstance(v, dict) or set(v) - {"versions", "backend", "facts"} or "facts" not in v:
            raise ProfileError(file, where, "a variant is {versions = ..., backend = ..., facts = {...}}")
        if "versions" not in v and "backend" not in v:
            raise ProfileError(file, where, "names the versions or the backend it covers")
        vfacts = _facts(v["facts"], file, f"{where}.facts", partial=True)
        variants.append(Variant(_specifier(v.get("versions", "*"), file, where), v.get("backend"), vfacts))
    return Profile(
        name=fw["name"],
        distribution=fw["distribution"],
        module=fw["module"],
        file=file,
        facts=facts,
        variants=tuple(variants),
        unsupported=_clause_table(raw.get("unsupported"), file, "unsupported"),
        attributed=_clause_table(raw.get("attributed"), file, "attributed"),
        deviations=_deviations(raw.get("deviations"), file),
        install=_install(raw.get("install"), file),
        checkpoints=checkpoints,
    )


def load_profile(path: Path | str) -> Profile:
    """The profile in the file at ``path``."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ProfileError(str(p), None, f"cannot read: {exc.strerror or exc}") from None
    return parse_profile(text, str(p))
