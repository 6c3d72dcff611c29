"""The adapter contract: does an adapter's set of primitives do what
:class:`~conformance.adapters.base.Adapter` documents, with the facts its
profile declares?

The catalogue checks a *framework* against the chapter's clauses, through its
adapter; it can only be trusted if the adapter itself translates faithfully.
This module checks the adapter, with nothing but the public primitives, on
a few small networks, against the numpy oracle
(:mod:`conformance.reference.functional`) and the adapter's own profile
(``adapter.facts``). Run it from a framework's own CI in one of two ways.

From code, raising ``AssertionError`` with every failure::

    from conformance.testing import check_adapter
    check_adapter(MyAdapter)                      # or profile=load_profile("my.toml")

In a pytest module, one test per contract check (a check the framework cannot
express, for a capability its profile does not declare, is skipped saying
why; a framework that is not installed is skipped too)::

    from conformance.testing import adapter_contract_tests

    test_adapter_contract = adapter_contract_tests(MyAdapter)

``adapter_contract_tests`` returns a parametrised test function; pytest
collects it under the name it is bound to (which must start with ``test``),
as ``test_adapter_contract[<framework>-<check>]``. It takes several adapter
classes too, ``profile=`` (a profile to check instead of the class's own) and
``known={"<framework>-<check>": "why"}`` for adapter bugs not fixed yet
(strict xfails: the fix makes the test fail until the entry is removed).
Select one framework's tests with ``pytest -k <framework>``. :data:`CHECKS`
lists the checks, each with what it checks and the adapter bug it catches
(``python -m conformance.testing`` prints them).

The model lifecycle, as a Hypothesis rule-based state machine checked against
a mirror after every step (:mod:`conformance.lifecycle`), is exported here
too: ``lifecycle_machine(MyAdapter)`` is a :class:`LifecycleMachine` to run or
subclass, its ``TestCase`` a ``unittest`` test case running it, so one line
puts it in a framework's test suite (as Hypothesis does for provider
conformance)::

    from conformance.testing import lifecycle_machine

    TestLifecycle = lifecycle_machine(MyAdapter).TestCase

Every contract check is deterministic: the framework is seeded with
:meth:`~conformance.adapters.base.Adapter.seed`, values and inputs come from
numpy generators with fixed seeds, and comparisons with the float64 oracle use
the profile's ``atol``/``rtol``.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import subprocess
import sys
import tempfile
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path as FsPath
from typing import Any

import numpy as np
from packaging.version import InvalidVersion, Version

from conformance.adapters.base import Adapter, NotApplicable, NotInstalled, Uninitialized
from conformance.arch import KINDS, Arch, Dense, Flatten, Kind, Path, ReLU, Sequential
from conformance.lifecycle import (
    LifecycleMachine,
    LifecycleViolation,
    lifecycle_machine,
    lifecycle_settings,
    run_lifecycle,
)
from conformance.profile import CAPABILITIES, Profile
from conformance.reference import functional
from conformance.strategies import (
    CHAPTER_MLP,
    CHAPTER_TIED,
    MXNET_SHARED,
    NESTED_CUSTOM,
    TIED_ACROSS_BLOCKS,
    TIED_AUTOENCODER,
)

__all__ = [
    "CHECKS",
    "Check",
    "ContractFailure",
    "ContractResult",
    "LifecycleMachine",
    "LifecycleViolation",
    "adapter_contract_tests",
    "check_adapter",
    "lifecycle_machine",
    "lifecycle_settings",
    "run_check",
    "run_lifecycle",
]

# -- the networks the checks build ----------------------------------------------------------
#: every layer non-square: a transpose changes the shape, so a wrong layout cannot even be written
NONSQUARE = Arch(Sequential((Dense(3), ReLU(), Dense(2))), input_dim=5)
#: every layer square: a missing transpose keeps every shape and changes only the function
SQUARE = Arch(Sequential((Dense(4), ReLU(), Dense(4))), input_dim=4)
#: containers inside containers, a Flatten, and both square and non-square layers
NESTED = Arch(
    Sequential(
        (
            Flatten(),
            Sequential((Dense(6), ReLU())),
            Sequential((Sequential((Dense(6), ReLU())), Dense(3))),
            ReLU(),
            Dense(2),
        )
    ),
    input_dim=5,
)
#: the shared layer in two containers (every framework can tie that way)
TIED = TIED_ACROSS_BLOCKS
#: the chapter's shared layer at two positions of one container (capability repeated_child)
REPEATED = CHAPTER_TIED


def _describe(arch: Arch) -> str:
    def node(n: Any) -> str:
        if isinstance(n, Sequential):
            return "[" + ", ".join(node(c) for c in n.children) + "]"
        if isinstance(n, Dense):
            return f"Dense({n.units}{', tie=' + n.tie if n.tie else ''})"
        return type(n).__name__

    return f"{node(arch.root)} on {arch.input_dim} inputs"


# -- outcomes ---------------------------------------------------------------------------------
class ContractFailure(AssertionError):
    """One or more contract checks failed; the message lists each failure."""

    def __init__(self, message: str, failures: dict[str, list[str]]) -> None:
        super().__init__(message)
        self.failures = failures


@dataclass
class ContractResult:
    """What :func:`check_adapter` found: checks passed, and checks that do not
    apply (with why). A failing run raises :class:`ContractFailure` instead."""

    adapter: str
    passed: list[str]
    not_applicable: dict[str, str]

    def __str__(self) -> str:
        na = "".join(f"\n  n/a {k}: {v}" for k, v in self.not_applicable.items())
        return f"{self.adapter}: {len(self.passed)} contract checks passed{na}"


class _CheckFailed(Exception):
    def __init__(self, failures: list[str]) -> None:
        super().__init__("\n".join(failures))
        self.failures = failures


# -- the context a check runs in ------------------------------------------------------------------
class _Ctx:
    """The adapter under test and what a check has found wrong so far."""

    def __init__(self, adapter_class: type[Adapter], profile: Profile | None, tmp: FsPath) -> None:
        self.cls = adapter_class
        self.profile_arg = profile
        self.tmp = tmp
        self.ad = adapter_class(profile)
        self.facts = self.ad.facts
        self.failures: list[str] = []
        self.ad.seed(0)

    # -- recording ---------------------------------------------------------------------------------
    def fail(self, what: str, expected: Any, observed: Any) -> None:
        self.failures.append(f"{what}: expected {expected}; observed {observed}")

    def expect(self, ok: bool, what: str, expected: Any, observed: Any) -> bool:
        if not ok:
            self.fail(what, expected, observed)
        return ok

    def close(self, what: str, observed: Any, expected: Any, *, exact: bool = False) -> bool:
        """``observed`` equals ``expected`` (within the profile's tolerances
        unless ``exact``), with the same shape."""
        if observed is None:
            return self.expect(False, what, f"an array of shape {np.shape(expected)}", "None")
        obs, exp = np.asarray(observed), np.asarray(expected)
        if obs.shape != exp.shape:
            return self.expect(False, what, f"shape {exp.shape}", f"shape {obs.shape}")
        if exact:
            ok = bool(np.array_equal(obs, exp))
        else:
            ok = bool(np.allclose(obs, exp, atol=self.facts.atol, rtol=self.facts.rtol))
        if ok:
            return True
        diff = np.abs(obs.astype(np.float64) - exp.astype(np.float64))
        at = np.unravel_index(int(np.argmax(diff)), diff.shape) if diff.size else ()
        tol = "exactly" if exact else f"atol {self.facts.atol:g}, rtol {self.facts.rtol:g}"
        return self.expect(
            False,
            what,
            f"{_fmt(exp)} ({tol})",
            f"{_fmt(obs)}, max |difference| {diff.max():.3g} at {tuple(int(i) for i in at)}",
        )

    @contextlib.contextmanager
    def attempt(self, what: str) -> Iterator[None]:
        """Run a part of a check; an exception (other than NotApplicable) is
        recorded as a failure of that part and the check goes on."""
        try:
            yield
        except NotApplicable:
            raise
        except Exception as exc:
            self.failures.append(f"{what}: {_raised(exc)}")

    def require(self, capability: str) -> None:
        if capability not in self.facts.capabilities:
            raise NotApplicable(f"the profile does not declare {capability}")

    # -- helpers over the primitives ---------------------------------------------------------------
    def build(self, arch: Arch, seed: int = 0) -> Any:
        self.ad.seed(seed)
        return self.ad.build(arch)

    def native_shape(self, arch: Arch, path: Path, kind: Kind) -> tuple[int, ...]:
        use = next(u for u in arch.dense_uses() if u.path == path)
        return self.ad.native_shape(kind, use.in_features, use.node.units)

    def native_by_layout(self, kind: Kind, canonical: np.ndarray) -> np.ndarray:
        """``canonical`` in the layout the profile declares, computed here (not
        with the adapter's ``to_native``, which is under test)."""
        if kind == "weight" and self.facts.weight_layout == "in_out":
            return np.ascontiguousarray(canonical.T)
        return canonical

    def forward_ok(
        self, what: str, model: Any, arch: Arch, params: dict[Any, np.ndarray], x: np.ndarray
    ) -> bool:
        y = self.ad.forward(model, x)
        return self.close(f"{what}: forward", y, functional.forward(arch, params, x))

    def grads_ok(self, what: str, model: Any, arch: Arch, case: _Case) -> bool:
        want = functional.grads(arch, case.params, case.x, case.upstream)
        got = self.ad.read_grads(model, arch)
        ok = True
        for key, g in want.items():
            ok &= self.close(f"{what}: gradient of {_key(key)} (canonical, read_grads)", got[key], g)
        return ok


def _raised(exc: BaseException) -> str:
    """``exc`` and the contract's line that called the primitive raising it."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == __file__]
    at = f" (from {frames[-1].line!r})" if frames else ""
    return f"raised {type(exc).__name__}: {exc}{at}"


def _aligned_copy(a: np.ndarray, alignment: int = 4096) -> np.ndarray:
    """A writeable copy of ``a`` whose buffer starts on an ``alignment``-byte
    boundary: a framework that adopts a suitably aligned host buffer instead of
    copying it (jax on the CPU does, jax-ml/jax#4486, #37830) then adopts
    this one every time, so an adapter that lets it is caught every run, not
    only when the allocator happens to align the caller's array."""
    raw = np.empty(a.nbytes + alignment, dtype=np.uint8)
    start = -raw.ctypes.data % alignment
    out = raw[start : start + a.nbytes].view(a.dtype).reshape(a.shape)
    out[...] = a
    return out


def _fmt(a: np.ndarray) -> str:
    if a.size <= 6:
        return np.array2string(a, precision=4, separator=", ").replace("\n", "")
    return f"an array of shape {a.shape}"


def _key(key: tuple[Path, Kind]) -> str:
    return f"the {key[1]} at {key[0]}"


@dataclass
class _Case:
    """Canonical parameter values, an input batch and an upstream gradient for
    which no ReLU input is near the kink (float32 and float64 agree on which
    side each falls)."""

    params: dict[tuple[Path, Kind], np.ndarray]
    x: np.ndarray
    upstream: np.ndarray


def _case(arch: Arch, seed: int, batch: int = 4) -> _Case:
    for attempt in range(100):
        rng = np.random.default_rng([seed, attempt])
        params: dict[tuple[Path, Kind], np.ndarray] = {}
        for ref, shape in arch.param_shapes().items():
            scale = 1.0 if ref[1] == "weight" else 0.5
            params[ref] = rng.uniform(-scale, scale, shape).astype(np.float32)
        x = rng.normal(size=(batch, arch.input_dim)).astype(np.float32)
        upstream = rng.normal(size=(batch, arch.output_dim)).astype(np.float32)
        kinks = functional.relu_inputs(arch, params, x)
        if all(np.abs(a).min() > 1e-2 for a in kinks):
            return _Case(params, x, upstream)
    raise RuntimeError("no case without a near-zero ReLU input")  # pragma: no cover


# -- the checks ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Check:
    """One contract check: ``name``, what it checks (``doc``) and the adapter
    bug it is there to catch (``catches``)."""

    name: str
    doc: str
    catches: str
    run: Callable[[_Ctx], None]


CHECKS: list[Check] = []


def _check(name: str, doc: str, catches: str) -> Callable[[Callable[[_Ctx], None]], Callable[[_Ctx], None]]:
    def deco(fn: Callable[[_Ctx], None]) -> Callable[[_Ctx], None]:
        CHECKS.append(Check(name, doc, catches, fn))
        return fn

    return deco


@_check(
    "identity",
    "installed() and the module import; version() is a PEP 440 version; describe() gives name, version "
    "and backend; the profile names the class's framework; its capabilities and facts are well-formed",
    "a wrong distribution or module name, a version the profile's ranges cannot match, a describe() that "
    "misreports, a profile of another framework, a profile fact the suite cannot use",
)
def _identity(c: _Ctx) -> None:
    ad, cls = c.ad, c.cls
    c.expect(cls.installed() is True, "installed()", True, cls.installed())
    try:
        importlib.import_module(cls.module)
    except ImportError as exc:
        c.fail(f"import {cls.module}", "the module to import", f"ImportError: {exc}")
    version = ad.version()
    try:
        Version(version)
    except InvalidVersion:
        c.fail("version()", "a PEP 440 version", repr(version))
    want = {"name": cls.name, "version": version, "backend": ad.backend()}
    described = ad.describe()
    got = {k: described.get(k) for k in want} if isinstance(described, dict) else described
    c.expect(got == want, "describe()", want, described)
    profile = ad.profile
    for attr in ("name", "distribution", "module"):
        c.expect(
            getattr(profile, attr) == getattr(cls, attr),
            f"the profile's {attr} ({profile.file})",
            f"the class's {attr} {getattr(cls, attr)!r}",
            repr(getattr(profile, attr)),
        )
    facts = c.facts
    unknown = sorted(set(facts.capabilities) - CAPABILITIES)
    c.expect(not unknown, "capabilities", f"known ones ({', '.join(sorted(CAPABILITIES))})", unknown)
    c.expect(
        facts.weight_layout in ("out_in", "in_out"), "weight_layout", "out_in or in_out", facts.weight_layout
    )
    modes = list(facts.load_modes)
    c.expect(bool(modes) and len(set(modes)) == len(modes), "load_modes", "distinct mode names", modes)
    if "grad_slot" in facts.capabilities:
        c.expect(
            facts.initial_grad in ("none", "zeros"), "initial_grad", "'none' or 'zeros'", facts.initial_grad
        )
    c.expect(facts.atol >= 0 and facts.rtol >= 0, "atol/rtol", "non-negative", (facts.atol, facts.rtol))


_LAZY_PROBE = """
import importlib, json, sys
sys.path[:0] = json.loads(sys.argv[1])
before = set(sys.modules)
import conformance.adapters.base
baseline = set(sys.modules)
mod = importlib.import_module(sys.argv[2])
cls = getattr(mod, sys.argv[3])
root = sys.argv[4]
print(json.dumps({"suite_imports_it": root in baseline,
                  "imported": sorted(m for m in set(sys.modules) - baseline
                                     if m == root or m.startswith(root + "."))}))
"""
_BLOCKED_PROBE = """
import importlib, json, sys
sys.path[:0] = json.loads(sys.argv[1])
sys.modules[sys.argv[4]] = None
mod = importlib.import_module(sys.argv[2])
print(json.dumps({"installed": getattr(mod, sys.argv[3]).installed()}))
"""


def _probe(code: str, cls: type[Adapter]) -> dict[str, Any]:
    root = cls.module.split(".")[0]
    args = [json.dumps(sys.path), cls.__module__, cls.__qualname__, root]
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    out = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, timeout=300, check=False
    )
    if out.returncode != 0:
        raise RuntimeError(f"the probe process failed:\n{out.stderr.strip()[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


@_check(
    "lazy-import",
    "importing the adapter's module imports no framework (checked in a fresh process), and with the "
    "framework unimportable the module still imports and installed() is False (a bool, where the adapter "
    "has an installed() of its own)",
    "an import of the framework at module level, which makes the registry, the CLI and every other "
    "framework's runs pay for (or crash on) this framework",
)
def _lazy_import(c: _Ctx) -> None:
    cls = c.cls
    if cls.__module__ == "__main__" or "<locals>" in cls.__qualname__:
        raise NotApplicable(f"{cls.__qualname__} is not importable by name from another process")
    root = cls.module.split(".")[0]
    seen = _probe(_LAZY_PROBE, cls)
    if seen["suite_imports_it"]:
        raise NotApplicable(f"the suite itself imports {root}")
    c.expect(
        not seen["imported"],
        f"modules imported by importing {cls.__module__}",
        "none of " + root,
        seen["imported"],
    )
    blocked = _probe(_BLOCKED_PROBE, cls)
    # With the base installed() (cls.module imports), blocking the module must
    # make it False. An adapter that overrides installed() has its own proof of
    # installation (Keras 2 is also tf.keras, reachable with `keras` blocked):
    # there the module must still import and installed() answer a bool.
    own = getattr(cls.installed, "__func__", None) is not getattr(Adapter.installed, "__func__", None)
    want: Any = (True, False) if own else (False,)
    c.expect(
        blocked["installed"] in want and isinstance(blocked["installed"], bool),
        f"installed() with {root} unimportable",
        "a bool" if own else False,
        blocked["installed"],
    )


@_check(
    "capabilities",
    "require() passes for every declared capability and raises NotApplicable for every other one "
    "(ValueError for an unknown name); the primitives of an undeclared capability raise NotApplicable "
    "(select, initialize_all, save_model/load_model, building a lazy net, a repeated child)",
    "a capability the profile forgets or invents, and a primitive that half-works (or silently does "
    "nothing) where the profile says the framework cannot",
)
def _capabilities(c: _Ctx) -> None:
    ad, caps = c.ad, c.facts.capabilities
    for cap in sorted(CAPABILITIES):
        try:
            ad.require(cap)
            raised: str | None = None
        except NotApplicable:
            raised = "NotApplicable"
        want = None if cap in caps else "NotApplicable"
        c.expect(raised == want, f"require({cap!r})", want or "no exception", raised or "no exception")
    try:
        ad.require("no_such_capability")
        c.fail("require('no_such_capability')", "ValueError", "no exception")
    except ValueError:
        pass

    def refuses(what: str, call: Callable[[], Any]) -> None:
        try:
            call()
        except NotApplicable:
            return
        except Exception as exc:
            c.fail(what, "NotApplicable", f"{type(exc).__name__}: {exc}")
            return
        c.fail(what, "NotApplicable", "no exception")

    net = c.build(NONSQUARE)
    if "pattern_selection" not in caps:
        refuses("select(model, '.*weight') without pattern_selection", lambda: ad.select(net, ".*weight"))
    if "explicit_initialize" not in caps:
        from conformance.adapters.base import Init

        refuses(
            "initialize_all without explicit_initialize",
            lambda: ad.initialize_all(net, Init("zeros"), force=True),
        )
    if "whole_model_save" not in caps:
        refuses("save_model without whole_model_save", lambda: ad.save_model(net, c.tmp / "whole"))
        refuses("load_model without whole_model_save", lambda: ad.load_model(c.tmp / "whole"))
    if "deferred_init" not in caps:
        refuses("build(lazy arch) without deferred_init", lambda: ad.build(NONSQUARE.with_lazy()))
    if "repeated_child" not in caps:

        def reach_both() -> None:
            model = ad.build(REPEATED)
            for u in REPEATED.tied_groups()["shared"]:
                ad.param_at(model, u.path, "weight")

        refuses("a layer at two positions of one container without repeated_child", reach_both)


def _archs(c: _Ctx) -> list[Arch]:
    return [CHAPTER_MLP, NONSQUARE, *_with_ties(c, NESTED)]


def _with_ties(c: _Ctx, *archs: Arch) -> list[Arch]:
    """``archs``, the tied net, and the chapter's repeated layer where the
    framework has repeated_child."""
    return [*archs, TIED, *([REPEATED] if "repeated_child" in c.facts.capabilities else [])]


@_check(
    "structure",
    "build() of a few nets (flat, nested with a Flatten, tied): num_children of every container is its "
    "number of positions, block_at reaches every node, parameter-free layers have no layer_params, "
    "forward gives (batch, outputs)",
    "a container built flat or missing a layer, child() indexing the wrong list, a ReLU or Flatten "
    "reporting parameters",
)
def _structure(c: _Ctx) -> None:
    ad = c.ad
    for arch in _archs(c):
        with c.attempt(_describe(arch)):
            name = _describe(arch)
            model = c.build(arch)
            c.expect(
                ad.num_children(model) == len(arch.root.children),
                f"{name}: num_children(model)",
                len(arch.root.children),
                ad.num_children(model),
            )
            for path, node in arch.walk():
                block = ad.block_at(model, path)
                if isinstance(node, Sequential):
                    n = ad.num_children(block)
                    c.expect(
                        n == len(node.children),
                        f"{name}: num_children(block_at({path}))",
                        len(node.children),
                        n,
                    )
                elif isinstance(node, (ReLU, Flatten)):
                    params = ad.layer_params(block)
                    c.expect(
                        params == [],
                        f"{name}: layer_params of the {type(node).__name__} at {path}",
                        "[]",
                        [r for r, _ in params],
                    )
            x = np.random.default_rng(1).normal(size=(3, arch.input_dim)).astype(np.float32)
            y = np.asarray(ad.forward(model, x))
            c.expect(
                y.shape == (3, arch.output_dim),
                f"{name}: forward output shape",
                (3, arch.output_dim),
                y.shape,
            )


def _order_is_deviation(c: _Ctx) -> bool:
    version, backend = c.ad.version(), c.ad.backend()
    return any(d.matches("access.dense-weight-and-bias", version, backend) for d in c.ad.profile.deviations)


@_check(
    "layer-params",
    "layer_params of every dense layer gives exactly the roles weight and bias, weight first (unless the "
    "profile lists the order as a known deviation of access.dense-weight-and-bias), and the two are "
    "distinct objects; param_at finds them",
    "a role mapping that swaps kernel and bias, drops one, or lists a parameter of another layer",
)
def _layer_params(c: _Ctx) -> None:
    ad = c.ad
    any_order = _order_is_deviation(c)
    for arch in (NONSQUARE, NESTED):
        with c.attempt(_describe(arch)):
            model = c.build(arch)
            for u in arch.dense_layers():
                params = ad.layer_params(ad.block_at(model, u.path))
                roles = [r for r, _ in params]
                want = ["weight", "bias"]
                ok = sorted(roles) == sorted(want) if any_order else roles == want
                c.expect(
                    ok,
                    f"{_describe(arch)}: roles of layer_params at {u.path}",
                    "weight and bias" if any_order else want,
                    roles,
                )
                if sorted(roles) != sorted(want):
                    continue
                d = dict(params)
                c.expect(not ad.same(d["weight"], d["bias"]), f"same(weight, bias) at {u.path}", False, True)
                for kind in KINDS:
                    c.expect(
                        ad.same(ad.param_at(model, u.path, kind), d[kind]),
                        f"param_at({u.path}, {kind!r})",
                        "the layer_params entry",
                        "another object",
                    )
                wshape, bshape = ad.shape(d["weight"]), ad.shape(d["bias"])
                c.expect(
                    bshape == (u.node.units,), f"shape of the bias role at {u.path}", (u.node.units,), bshape
                )
                c.expect(
                    wshape is not None and len(wshape) == 2,
                    f"shape of the weight role at {u.path}",
                    "two dimensions",
                    wshape,
                )


@_check(
    "ties",
    "a tied layer's uses give the same() parameter objects, and a write through one use is read through "
    "the other; distinct layers give distinct objects",
    "a tie built as two layers (copied values, not one object), a same() that compares values or always "
    "answers True",
)
def _ties(c: _Ctx) -> None:
    ad = c.ad
    archs = [TIED] + ([REPEATED] if "repeated_child" in c.facts.capabilities else [])
    for arch in archs:
        with c.attempt(_describe(arch)):
            name = _describe(arch)
            model = c.build(arch)
            uses = arch.tied_groups()["shared"]
            first, second = uses[0].path, uses[1].path
            for kind in KINDS:
                p, q = ad.param_at(model, first, kind), ad.param_at(model, second, kind)
                c.expect(ad.same(p, q), f"{name}: same() of the {kind}s at {first} and {second}", True, False)
            shape = c.native_shape(arch, first, "weight")
            value = np.arange(np.prod(shape), dtype=np.float32).reshape(shape) / 7
            ad.write(ad.param_at(model, first, "weight"), value)
            c.close(
                f"{name}: the weight at {second} after a write at {first}",
                ad.read(ad.param_at(model, second, "weight")),
                value,
                exact=True,
            )
            layers = arch.dense_layers()
            for i, u in enumerate(layers):
                for v in layers[i + 1 :]:
                    if u.in_features == v.in_features and u.node.units == v.node.units:
                        pu, pv = ad.param_at(model, u.path, "weight"), ad.param_at(model, v.path, "weight")
                        c.expect(
                            not ad.same(pu, pv),
                            f"{name}: same() of distinct layers at {u.path} and {v.path}",
                            False,
                            True,
                        )
                c.expect(
                    not ad.same(ad.param_at(model, u.path, "weight"), ad.param_at(model, u.path, "bias")),
                    f"{name}: same() of weight and bias at {u.path}",
                    False,
                    True,
                )


@_check(
    "listing",
    "all_params lists every parameter reached by position once, and nothing else; lookup of each listed "
    "name gives that parameter; state_dict's values are the parameters' values (native layout)",
    "a listing that misses nested layers or lists a tied one twice, a lookup that resolves names to the "
    "wrong parameter, a state_dict in the canonical layout or with stale values",
)
def _listing(c: _Ctx) -> None:
    ad = c.ad
    for arch in _with_ties(c, NONSQUARE, NESTED):
        with c.attempt(_describe(arch)):
            name = _describe(arch)
            model = c.build(arch)
            by_position = [(k, ad.param_at(model, p, k)) for p, k in arch.param_refs()]
            listed = ad.all_params(model)
            for (p, kind), (_, param) in zip(arch.param_refs(), by_position, strict=True):
                hits = [n for n, q in listed if ad.same(param, q)]
                c.expect(len(hits) == 1, f"{name}: entries of all_params for the {kind} at {p}", 1, hits)
            for n, q in listed:
                if not any(ad.same(q, param) for _, param in by_position):
                    c.fail(
                        f"{name}: all_params entry {n!r}",
                        "a parameter of the net",
                        "none reached by position",
                    )
            if arch is not NONSQUARE:
                continue  # lookup idioms of nested names are clauses of the catalogue (naming.*)
            for n, q in listed:
                try:
                    found = ad.lookup(model, n)
                except Exception as exc:
                    c.fail(f"{name}: lookup({n!r})", "the listed parameter", f"{type(exc).__name__}: {exc}")
                    continue
                c.expect(
                    ad.same(found, q), f"{name}: lookup({n!r})", "the listed parameter", "another object"
                )
            c.ad.write_params(model, _case(arch, 3).params)
            values = sorted((ad.read(q).tobytes(), ad.read(q).shape) for _, q in by_position)
            got = sorted((np.asarray(v, np.float32).tobytes(), np.shape(v)) for _, v in ad.state_dict(model))
            c.expect(
                got == values,
                f"{name}: state_dict values",
                "the parameters' values (read)",
                "other values or shapes",
            )


@_check(
    "shapes-and-dtype",
    "shape() and read().shape of every parameter are the native shapes of its profile's weight_layout; "
    "dtype() and read().dtype are float32",
    "a shape() that reports the canonical shape of an (in, out) framework, a read() in float64",
)
def _shapes(c: _Ctx) -> None:
    ad = c.ad
    for arch in (NONSQUARE, NESTED):
        with c.attempt(_describe(arch)):
            model = c.build(arch)
            for p, kind in arch.param_refs():
                param = ad.param_at(model, p, kind)
                want = c.native_shape(arch, p, kind)
                where = f"{_describe(arch)}: the {kind} at {p}"
                c.expect(ad.shape(param) == want, f"{where}: shape()", want, ad.shape(param))
                v = ad.read(param)
                c.expect(
                    isinstance(v, np.ndarray), f"{where}: read() type", "numpy.ndarray", type(v).__name__
                )
                c.expect(np.shape(v) == want, f"{where}: read().shape", want, np.shape(v))
                c.expect(
                    np.asarray(v).dtype == np.float32,
                    f"{where}: read().dtype",
                    "float32",
                    np.asarray(v).dtype,
                )
                c.expect(
                    ad.dtype(param) == "float32", f"{where}: dtype()", "'float32'", repr(ad.dtype(param))
                )


@_check(
    "layout",
    "the native weight is what facts.weight_layout says: values written with write() in that layout "
    "(non-square and square layers) give forward() = the numpy oracle's x @ W.T + b",
    "a profile declaring the wrong weight_layout (a square layer has the same shape both ways, so only "
    "the function tells them apart), an adapter whose read/write transpose behind the profile's back",
)
def _layout(c: _Ctx) -> None:
    ad = c.ad
    for arch in (NONSQUARE, SQUARE):
        with c.attempt(_describe(arch)):
            name = _describe(arch)
            model = c.build(arch)
            case = _case(arch, 11)
            for (p, kind), v in case.params.items():
                ad.write(ad.param_at(model, p, kind), c.native_by_layout(kind, v))
            c.forward_ok(
                f"{name}, values written with write() in the {c.facts.weight_layout} layout",
                model,
                arch,
                case.params,
                case.x,
            )


@_check(
    "layout-conversion",
    "to_canonical/to_native convert between the native layout and (out, in): canonical values written "
    "with write_params (non-square and square layers) give forward() = the numpy oracle's, read_params "
    "gives them back, and read_grads after backward() gives the oracle's canonical gradients",
    "a to_canonical or to_native that does not transpose an (in, out) weight, or transposes an (out, in) "
    "one: the square layers keep their shapes, so only this comparison catches it",
)
def _layout_conversion(c: _Ctx) -> None:
    ad = c.ad
    for arch in (NONSQUARE, SQUARE, NESTED):
        with c.attempt(_describe(arch)):
            name = _describe(arch)
            model = c.build(arch)
            case = _case(arch, 12)
            ad.write_params(model, case.params)
            c.forward_ok(f"{name}, values written with write_params", model, arch, case.params, case.x)
            back = ad.read_params(model, arch)
            for key, v in case.params.items():
                c.close(f"{name}: read_params of {_key(key)} after write_params", back[key], v, exact=True)
            for (p, kind), v in case.params.items():
                native = ad.read(ad.param_at(model, p, kind))
                c.close(
                    f"{name}: to_canonical(read()) of the {kind} at {p}",
                    ad.to_canonical(kind, native),
                    v,
                    exact=True,
                )
                c.close(
                    f"{name}: to_native of the canonical {kind} at {p}",
                    ad.to_native(kind, v),
                    native,
                    exact=True,
                )
            ad.backward(model, case.x, case.upstream)
            c.grads_ok(name, model, arch, case)


@_check(
    "read-write",
    "write() then read() gives the value back exactly, read() returns a copy, write() copies its "
    "argument, the parameter object stays the one the model holds (forward sees it), and a value of the "
    "wrong shape is refused",
    "a read() returning a view of the live buffer (a later write changes a value the caller kept), a "
    "write() that keeps the caller's array (jax adopts an aligned numpy buffer on the CPU), a write() "
    "that rebinds a new object the model does not use, silent broadcasting",
)
def _read_write(c: _Ctx) -> None:
    ad = c.ad
    arch = NONSQUARE
    model = c.build(arch)
    case = _case(arch, 21)
    rng = np.random.default_rng(22)
    for (p, kind), v in case.params.items():
        param = ad.param_at(model, p, kind)
        native = c.native_by_layout(kind, v)
        src = _aligned_copy(native)
        ad.write(param, src)
        where = f"the {kind} at {p}"
        c.close(f"{where}: read() after write()", ad.read(param), native, exact=True)
        src += 1.0
        if not c.close(
            f"{where}: read() after the written array was changed", ad.read(param), native, exact=True
        ):
            ad.write(param, native.copy())  # so that what follows is checked on its own
            src = native  # never changed again
        got = ad.read(param)
        got += 1.0
        c.close(
            f"{where}: read() after the array read() returned was changed", ad.read(param), native, exact=True
        )
        c.expect(
            ad.same(ad.param_at(model, p, kind), param),
            f"{where}: param_at after write()",
            "the same object",
            "another object",
        )
        wrong = rng.normal(size=(native.size + 1,)).astype(np.float32)
        try:
            ad.write(param, wrong)
            refused = "no exception"
        except Exception as exc:
            refused = type(exc).__name__
        c.expect(
            refused != "no exception", f"{where}: write() of shape {wrong.shape}", "an exception", refused
        )
        c.close(f"{where}: read() after the refused write", ad.read(param), native, exact=True)
    c.forward_ok("after write()", model, arch, case.params, case.x)


@_check(
    "assign",
    "assign() of an element, of a row (scalar broadcast) and of the whole array (an array) changes "
    "exactly those entries, in the native layout, in place (forward sees it)",
    "an assign() that indexes the canonical layout, writes a copy, or writes more than the index",
)
def _assign(c: _Ctx) -> None:
    ad = c.ad
    arch = NONSQUARE
    model = c.build(arch)
    case = _case(arch, 31)
    ad.write_params(model, case.params)
    rng = np.random.default_rng(32)
    for p, kind in arch.param_refs():
        param = ad.param_at(model, p, kind)
        want = ad.read(param)
        where = f"the {kind} at {p}"
        last = tuple(s - 1 for s in want.shape)
        steps: list[tuple[Any, Any]] = [(last, 2.5), ((1,) if kind == "bias" else (1, slice(None)), -1.25)]
        steps.append(((slice(None),), rng.uniform(-1, 1, want.shape).astype(np.float32)))
        steps.append((last, np.float32(0.5)))
        for index, value in steps:
            ad.assign(param, index, value)
            want[index] = value
            c.close(f"{where}: read() after assign({index}, ...)", ad.read(param), want, exact=True)
        c.expect(
            ad.same(ad.param_at(model, p, kind), param),
            f"{where}: param_at after assign()",
            "the same object",
            "another object",
        )
    values = ad.read_params(model, arch)
    c.forward_ok("after assign()", model, arch, values, case.x)


@_check(
    "grad-before-backward",
    "with a grad_slot, grad() before any backward pass is what facts.initial_grad says (None, or zeros "
    "of the native shape)",
    "a grad() that invents zeros where the framework has None (or None where it has zeros), or zeros of "
    "the canonical shape",
)
def _grad_initial(c: _Ctx) -> None:
    c.require("grad_slot")
    ad = c.ad
    arch = NONSQUARE
    model = c.build(arch)
    for p, kind in arch.param_refs():
        g = ad.grad(ad.param_at(model, p, kind))
        where = f"grad() of the {kind} at {p} before backward"
        if c.facts.initial_grad == "none":
            c.expect(g is None, where, "None (initial_grad = 'none')", _fmt(np.asarray(g)))
        else:
            c.close(where, g, np.zeros(c.native_shape(arch, p, kind), np.float32), exact=True)


@_check(
    "backward",
    "backward(x, upstream) leaves the gradient of sum(forward(x) * upstream) in every slot: grad() has "
    "the native shape and read_grads equals the oracle's, on a flat, a nested and a tied net (the tied "
    "gradient is the sum over uses)",
    "a backward of the wrong loss (mean instead of sum, upstream ignored), gradients read from a copy, a "
    "tied gradient of one use only",
)
def _backward(c: _Ctx) -> None:
    ad = c.ad
    for arch in _with_ties(c, NONSQUARE, NESTED):
        with c.attempt(_describe(arch)):
            name = _describe(arch)
            model = c.build(arch)
            case = _case(arch, 41)
            ad.write_params(model, case.params)
            ad.backward(model, case.x, case.upstream)
            for p, kind in arch.param_refs():
                g = ad.grad(ad.param_at(model, p, kind))
                want = c.native_shape(arch, p, kind)
                c.expect(
                    g is not None and np.shape(g) == want,
                    f"{name}: grad() of the {kind} at {p}",
                    f"shape {want}",
                    None if g is None else np.shape(g),
                )
            c.grads_ok(name, model, arch, case)


@_check(
    "zero-grad",
    "zero_grad() empties every slot (None or zeros), and the next backward gives the oracle's gradient, "
    "not the sum of both passes",
    "a zero_grad() that does nothing, or clears a copy",
)
def _zero_grad(c: _Ctx) -> None:
    ad = c.ad
    arch = NONSQUARE
    model = c.build(arch)
    case = _case(arch, 51)
    ad.write_params(model, case.params)
    ad.backward(model, case.x, case.upstream)
    ad.zero_grad(model)
    for p, kind in arch.param_refs():
        g = ad.grad(ad.param_at(model, p, kind))
        c.expect(
            g is None or not np.asarray(g).any(),
            f"grad() of the {kind} at {p} after zero_grad",
            "None or zeros",
            None if g is None else _fmt(np.asarray(g)),
        )
    ad.backward(model, case.x, case.upstream)
    c.grads_ok("the backward after zero_grad", model, arch, case)


@_check(
    "sgd-step",
    "after backward, sgd_step(lr) moves every parameter by -lr * its gradient, a tied one once",
    "a step with the wrong sign or scale (a 1/batch factor), a tied parameter stepped once per use, a "
    "step of a copy",
)
def _sgd_step(c: _Ctx) -> None:
    ad = c.ad
    lr = 0.25
    for arch in _with_ties(c, NONSQUARE):
        with c.attempt(_describe(arch)):
            name = _describe(arch)
            model = c.build(arch)
            case = _case(arch, 61)
            ad.write_params(model, case.params)
            ad.backward(model, case.x, case.upstream)
            grads = functional.grads(arch, case.params, case.x, case.upstream)
            ad.sgd_step(model, lr)
            after = ad.read_params(model, arch)
            for key, v in case.params.items():
                c.close(f"{name}: {_key(key)} after sgd_step({lr})", after[key], v - lr * grads[key])


@_check(
    "load-modes",
    "every mode of facts.load_modes loads what save_weights saved into a net built with other values "
    "(ties kept); an unknown mode raises ValueError naming the known ones",
    "a load mode that is accepted but loads nothing or the wrong keys, a load that cuts a tie, a "
    "mode name the profile declares but the adapter does not know",
)
def _load_modes(c: _Ctx) -> None:
    ad = c.ad
    for i, arch in enumerate(_with_ties(c, NESTED)):
        with c.attempt(_describe(arch)):
            name = _describe(arch)
            src = c.build(arch, seed=1)
            case = _case(arch, 71)
            ad.write_params(src, case.params)
            path = c.tmp / f"weights-{i}"
            ad.save_weights(src, path)
            for mode in c.facts.load_modes:
                with c.attempt(f"{_describe(arch)}, mode {mode!r}"):
                    dst = c.build(arch, seed=2)
                    out = ad.load_weights(dst, path, mode)
                    got = ad.read_params(out, arch)
                    for key, v in case.params.items():
                        c.close(
                            f"{name}: {_key(key)} after load_weights(mode={mode!r})", got[key], v, exact=True
                        )
                    c.forward_ok(f"{name}: after load_weights(mode={mode!r})", out, arch, case.params, case.x)
                    for u in arch.dense_uses():
                        if not u.first_use:
                            owner = next(v.path for v in arch.dense_layers() if v.key == u.key)
                            c.expect(
                                ad.same(
                                    ad.param_at(out, u.path, "weight"), ad.param_at(out, owner, "weight")
                                ),
                                f"{name}: the tie {owner} = {u.path} after load_weights(mode={mode!r})",
                                "kept",
                                "cut",
                            )
            try:
                ad.load_weights(c.build(arch), path, "no-such-mode")
                c.fail(f"{name}: load_weights(mode='no-such-mode')", "ValueError", "no exception")
            except ValueError as exc:
                missing = [m for m in c.facts.load_modes if m not in str(exc)]
                c.expect(
                    not missing,
                    f"{name}: the ValueError of load_weights(mode='no-such-mode')",
                    f"a message naming the known modes {list(c.facts.load_modes)}",
                    f"{str(exc)!r}",
                )
            except Exception as exc:
                c.fail(
                    f"{name}: load_weights(mode='no-such-mode')", "ValueError", f"{type(exc).__name__}: {exc}"
                )


@_check(
    "whole-model",
    "with whole_model_save, load_model(save_model(net)) computes what the net computes",
    "a whole-model save that keeps only the weights or loads a default-initialised model",
)
def _whole_model(c: _Ctx) -> None:
    c.require("whole_model_save")
    ad = c.ad
    arch = NESTED
    model = c.build(arch)
    case = _case(arch, 81)
    ad.write_params(model, case.params)
    ad.save_model(model, c.tmp / "whole")
    back = ad.load_model(c.tmp / "whole")
    c.forward_ok("the loaded model", back, arch, case.params, case.x)


@_check(
    "deferred-init",
    "with deferred_init, a lazy net's weights have no known input dimension before the first forward "
    "(shape() None or with None; read() raises Uninitialized), and the native shape after it, with the "
    "handles taken before still the model's parameters; write_params then computes the oracle's function",
    "a lazy build that is not lazy, a shape() that invents dimensions, handles that go stale at "
    "materialisation, a layout conversion that breaks on lazily built layers",
)
def _deferred(c: _Ctx) -> None:
    c.require("deferred_init")
    ad = c.ad
    arch = NONSQUARE.with_lazy()
    model = c.build(arch)
    handles = {(p, k): ad.param_at(model, p, k) for p, k in arch.param_refs()}
    for (p, kind), h in handles.items():
        if kind != "weight":
            continue
        s = ad.shape(h)
        c.expect(
            s is None or None in s,
            f"shape() of the lazy weight at {p} before forward",
            "None or a shape with None",
            s,
        )
        try:
            ad.read(h)
            c.fail(f"read() of the lazy weight at {p} before forward", "Uninitialized", "a value")
        except Uninitialized:
            pass
    x = np.random.default_rng(91).normal(size=(3, arch.input_dim)).astype(np.float32)
    ad.forward(model, x)
    for (p, kind), h in handles.items():
        want = c.native_shape(arch, p, kind)
        c.expect(ad.shape(h) == want, f"shape() of the {kind} at {p} after forward", want, ad.shape(h))
        c.expect(
            ad.same(ad.param_at(model, p, kind), h),
            f"the handle of the {kind} at {p} taken before forward",
            "the model's parameter after it",
            "another object",
        )
    case = _case(arch, 92)
    ad.write_params(model, case.params)
    c.forward_ok("the materialised lazy net, after write_params", model, arch, case.params, case.x)


@_check(
    "initialize",
    "initialize() with constant/zeros reaches every dense layer of a model, only that layer when given "
    "a sub-block, leaves a role given None alone, keeps the parameter objects; with custom_initializer "
    "the chapter's mixture gives values in {0} and [5, 10] in magnitude, about half zeros",
    "an initialiser applied to the wrong role, to the whole model when a sub-block was given, to a copy, "
    "or a mixture written with the framework's mechanism wrongly",
)
def _initialize(c: _Ctx) -> None:
    from conformance.adapters.base import Init

    ad = c.ad
    arch = NESTED
    model = c.build(arch)
    handles = {key: ad.param_at(model, *key) for key in arch.param_refs()}
    case = _case(arch, 101)
    ad.write_params(model, case.params)
    ad.initialize(model, weight=Init("constant", value=1.5), bias=Init("zeros"))
    layers = [u.path for u in arch.dense_layers()]
    got = ad.read_params(model, arch)
    for p in layers:
        c.close(
            f"the weight at {p} after initialize(model, constant 1.5)",
            got[(p, "weight")],
            np.full_like(case.params[(p, "weight")], 1.5),
            exact=True,
        )
        c.close(
            f"the bias at {p} after initialize(model, bias=zeros)",
            got[(p, "bias")],
            np.zeros_like(case.params[(p, "bias")]),
            exact=True,
        )
    inner = layers[1][:-1]  # the container of the second dense layer
    ad.initialize(ad.block_at(model, inner), weight=Init("constant", value=-2.0))
    after = ad.read_params(model, arch)
    for p in layers:
        inside = p[: len(inner)] == inner
        want = np.full_like(case.params[(p, "weight")], -2.0 if inside else 1.5)
        c.close(
            f"the weight at {p} after initialize(block_at({inner}), constant -2)",
            after[(p, "weight")],
            want,
            exact=True,
        )
        c.close(
            f"the bias at {p} after initialize(..., bias=None)",
            after[(p, "bias")],
            np.zeros_like(case.params[(p, "bias")]),
            exact=True,
        )
    for key, h in handles.items():
        c.expect(
            ad.same(ad.param_at(model, *key), h),
            f"param_at{key} after initialize",
            "the same object",
            "another object",
        )
    if "custom_initializer" in c.facts.capabilities:
        big = Arch(Sequential((Dense(64), ReLU(), Dense(64))), input_dim=64)
        net = c.build(big)
        ad.initialize(net, weight=Init("mixture"))
        for p in ((0,), (2,)):
            w = ad.read(ad.param_at(net, p, "weight"))
            a = np.abs(w)
            c.expect(
                bool(((w == 0) | ((a >= 5) & (a <= 10))).all()),
                f"mixture weight at {p}",
                "entries 0 or of magnitude in [5, 10]",
                f"range [{w.min():.3g}, {w.max():.3g}]",
            )
            zeros = float((w == 0).mean())  # 4096 draws of p = 1/2: 0.35..0.65 is > 19 sd
            c.expect(0.35 < zeros < 0.65, f"share of zeros in the mixture weight at {p}", "about 1/2", zeros)
            for sign in (1, -1):
                share = float((np.sign(w) == sign).mean())
                c.expect(
                    0.1 < share < 0.4,
                    f"share of sign {sign:+d} in the mixture weight at {p}",
                    "about 1/4",
                    share,
                )


@_check(
    "seed",
    "seed(s) before build gives the same initial values each time; another seed gives other weights",
    "a seed() that seeds the wrong generator (or none), so no run can be reproduced",
)
def _seed(c: _Ctx) -> None:
    ad = c.ad
    arch = NONSQUARE
    a = ad.read_params(c.build(arch, seed=5), arch)
    b = ad.read_params(c.build(arch, seed=5), arch)
    other = ad.read_params(c.build(arch, seed=6), arch)
    for key in a:
        c.close(f"{_key(key)} built twice after seed(5)", b[key], a[key], exact=True)
    w: tuple[Path, Kind] = ((0,), "weight")
    c.expect(
        not np.array_equal(a[w], other[w]), f"{_key(w)} after seed(5) and after seed(6)", "different", "equal"
    )


@_check(
    "custom-layers",
    "with custom_layers, user-defined layers nested in user-defined blocks build, are indexed like "
    "built-in ones (num_children, child), hold a weight and a bias in the profile's layout, and compute "
    "the oracle's function and gradients after write_params",
    "a user-defined block whose children cannot be reached by index, a custom layer in the wrong layout "
    "or whose parameters are not the ones its forward uses",
)
def _custom_layers(c: _Ctx) -> None:
    c.require("custom_layers")
    ad = c.ad
    arch = NESTED_CUSTOM
    model = c.build(arch)
    for path, node in arch.walk():
        if isinstance(node, Sequential):
            with c.attempt(f"num_children of the block at {path}"):
                n = ad.num_children(ad.block_at(model, path))
                c.expect(n == len(node.children), f"num_children of the block at {path}",
                         len(node.children), n)
    for u in arch.dense_layers():
        with c.attempt(f"the parameters of the layer at {u.path}"):
            got = {k: ad.shape(p) for k, p in ad.layer_params(ad.block_at(model, u.path))}
            want = {k: c.native_shape(arch, u.path, k) for k in KINDS}
            c.expect(got == want, f"layer_params shapes of the layer at {u.path}", want, got)
    case = _case(arch, 101)
    with c.attempt("write_params, forward and backward"):
        ad.write_params(model, case.params)
        fine = c.forward_ok("user-defined layers", model, arch, case.params, case.x)
        if fine and "grad_slot" in c.facts.capabilities:
            ad.zero_grad(model)
            ad.backward(model, case.x, case.upstream)
            c.grads_ok("user-defined layers", model, arch, case)


@_check(
    "param-sharing",
    "with param_sharing, distinct layers built with another layer's parameters hold that very object "
    "(param_at of both positions is one object, same()), are distinct layer objects, and compute the "
    "oracle's function; with transposed_sharing too, the tied autoencoder",
    "a sharing hook that copies the source's values instead of sharing the parameter, or that returns the "
    "source layer itself",
)
def _param_sharing(c: _Ctx) -> None:
    c.require("param_sharing")
    ad = c.ad
    archs = [MXNET_SHARED] + ([TIED_AUTOENCODER] if "transposed_sharing" in c.facts.capabilities else [])
    for arch in archs:
        what = _describe(arch)
        model = c.build(arch)
        for ref, positions in arch.shared_params().items():
            first = ad.param_at(model, *ref)
            for pos in positions[1:]:
                c.expect(ad.same(ad.param_at(model, pos.path, pos.kind), first),
                         f"{what}: the {pos.kind} at {pos.path}", f"the object at {ref[0]}", "another object")
        for u in arch.dense_uses():
            if u.node.shares:
                src = u.weight_ref[0] if u.node.weight_of else u.bias_ref[0]
                c.expect(ad.block_at(model, u.path) is not ad.block_at(model, src),
                         f"{what}: the layer at {u.path}", f"a layer other than the one at {src}", "the same")
        case = _case(arch, 111)
        with c.attempt(f"{what}: write_params and forward"):
            ad.write_params(model, case.params)
            c.forward_ok(what, model, arch, case.params, case.x)


@_check(
    "state-round-trip",
    "with in_memory_state, load_state(fresh, get_state(net), mode) restores every parameter exactly in "
    "every state_load_modes entry, and state_arrays returns copies (writing into them changes nothing)",
    "a get_state that returns values of another model, a load mode that is a no-op, state_arrays that "
    "hands out the live arrays",
)
def _state_round_trip(c: _Ctx) -> None:
    c.require("in_memory_state")
    ad = c.ad
    arch = NESTED
    if not c.expect(bool(c.facts.state_load_modes), "state_load_modes", "at least one mode", "none"):
        return
    source = c.build(arch, seed=1)
    case = _case(arch, 121)
    ad.write_params(source, case.params)
    state = ad.get_state(source)
    for _, arr in ad.state_arrays(state):
        arr[...] = 0  # copies: the model and the state must not see this
    for mode in c.facts.state_load_modes:
        with c.attempt(f"load_state in mode {mode!r}"):
            loaded = ad.load_state(c.build(arch, seed=2), state, mode)
            got = ad.read_params(loaded, arch)
            for key, want in case.params.items():
                c.close(f"mode {mode!r}: {_key(key)}", got[key], want, exact=True)


@_check(
    "copy",
    "with model_copy, copy_model(net, op) for every copy_ops entry gives a model with the same parameters "
    "exactly (an op the framework documents as refusing a kind of model may raise Unbuildable)",
    "a copy hook that builds a fresh, default-initialised model instead of copying",
)
def _copy(c: _Ctx) -> None:
    c.require("model_copy")
    ad = c.ad
    if not c.expect(bool(c.facts.copy_ops), "copy_ops", "at least one operation", "none"):
        return
    arch = NESTED
    source = c.build(arch)
    case = _case(arch, 131)
    ad.write_params(source, case.params)
    for op in c.facts.copy_ops:
        with c.attempt(f"copy_model by {op!r}"):
            got = ad.read_params(ad.copy_model(source, op), arch)
            for key, want in case.params.items():
                c.close(f"copy by {op!r}: {_key(key)}", got[key], want, exact=True)


CHECK_NAMES = tuple(ch.name for ch in CHECKS)


# -- running ---------------------------------------------------------------------------------------
def _check_named(name: str) -> Check:
    for ch in CHECKS:
        if ch.name == name:
            return ch
    raise KeyError(f"unknown contract check {name!r}; known: {', '.join(CHECK_NAMES)}")


def _label(adapter_class: type[Adapter]) -> str:
    return f"{adapter_class.__qualname__} ({getattr(adapter_class, 'name', '?')})"


def run_check(adapter_class: type[Adapter], name: str, *, profile: Profile | None = None) -> None:
    """Run the contract check ``name``: return if it passes, raise
    :class:`NotApplicable` (with why) if it does not apply, :class:`ContractFailure`
    listing what was expected and observed if it fails, and :class:`NotInstalled`
    if the adapter's framework is not installed."""
    check = _check_named(name)
    if not adapter_class.installed():
        raise NotInstalled(f"{_label(adapter_class)}: {adapter_class.module} is not installed")
    with tempfile.TemporaryDirectory(prefix=f"contract-{name}-") as tmp:
        ctx: _Ctx | None = None
        try:
            ctx = _Ctx(adapter_class, profile, FsPath(tmp))
            check.run(ctx)
        except NotApplicable:
            raise
        except Exception as exc:  # a primitive that raised is a failure of this check
            failures = [*(ctx.failures if ctx is not None else []), _raised(exc)]
            raise ContractFailure(_message(adapter_class, {name: failures}), {name: failures}) from exc
    if ctx is not None and ctx.failures:
        raise ContractFailure(_message(adapter_class, {name: ctx.failures}), {name: ctx.failures})


def _message(adapter_class: type[Adapter], failures: dict[str, list[str]], ran: int = 1) -> str:
    lines = [
        f"{_label(adapter_class)} fails {len(failures)} of {ran} contract check{'s' if ran > 1 else ''}:"
    ]
    for name, found in failures.items():
        lines.append(f"[{name}] {_check_named(name).doc}")
        lines += [f"  - {f}" for f in found]
    return "\n".join(lines)


def check_adapter(
    adapter_class: type[Adapter], *, profile: Profile | None = None, checks: Iterable[str] | None = None
) -> ContractResult:
    """Run every contract check (or those named in ``checks``) against
    ``adapter_class`` (with ``profile`` instead of the class's own). Raises
    :class:`ContractFailure`, an ``AssertionError``, listing each failing check
    with what was expected and observed; :class:`NotInstalled` if the framework
    is not installed. Returns what passed and what did not apply."""
    if not adapter_class.installed():
        raise NotInstalled(f"{_label(adapter_class)}: {adapter_class.module} is not installed")
    passed: list[str] = []
    na: dict[str, str] = {}
    failures: dict[str, list[str]] = {}
    names = list(checks if checks is not None else CHECK_NAMES)
    for name in names:
        try:
            run_check(adapter_class, name, profile=profile)
        except NotApplicable as exc:
            na[name] = str(exc)
        except ContractFailure as exc:
            failures.update(exc.failures)
        else:
            passed.append(name)
    if failures:
        raise ContractFailure(_message(adapter_class, failures, len(names)), failures)
    return ContractResult(_label(adapter_class), passed, na)


def adapter_contract_tests(
    *adapter_classes: type[Adapter], profile: Profile | None = None, known: Mapping[str, str] | None = None
) -> Any:
    """A pytest test function running each contract check on each adapter
    class, one test per (adapter, check) with the id ``<framework>-<check>``;
    bind it to a ``test_*`` name in a test module. A check that does not
    apply, or an adapter whose framework is not installed, is skipped with the
    reason. ``known`` maps ids of known adapter bugs to their reason: those
    tests are strict xfails, so the fix shows up as a failure to remove them."""
    import pytest

    if not adapter_classes:
        raise TypeError("adapter_contract_tests needs at least one adapter class")
    known = dict(known or {})
    params = []
    for cls in adapter_classes:
        for name in CHECK_NAMES:
            pid = f"{getattr(cls, 'name', cls.__name__)}-{name}"
            marks = (
                [pytest.mark.xfail(reason=known.pop(pid), raises=ContractFailure, strict=True)]
                if pid in known
                else []
            )
            params.append(pytest.param(cls, name, id=pid, marks=marks))
    if known:
        raise ValueError(f"known failures of no test: {sorted(known)}; ids are <framework>-<check>")

    @pytest.mark.parametrize(("adapter_class", "check"), params)
    def test_adapter_contract(adapter_class: type[Adapter], check: str) -> None:
        try:
            run_check(adapter_class, check, profile=profile)
        except NotInstalled as exc:
            pytest.skip(str(exc))
        except NotApplicable as exc:
            pytest.skip(f"{check} does not apply to {adapter_class.__qualname__}: {exc}")

    return test_adapter_contract


def _iter_doc() -> Iterator[str]:
    for ch in CHECKS:
        yield f"{ch.name}\n  checks:  {ch.doc}\n  catches: {ch.catches}"


if __name__ == "__main__":  # pragma: no cover
    print("\n".join(_iter_doc()))
