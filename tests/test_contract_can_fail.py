"""The adapter contract (:mod:`conformance.testing`) is only worth running if
each of its checks can fail. Each test here gives it a reference adapter with
one primitive (or one profile fact) broken the way an adapter goes wrong, and
asserts that check_adapter fails, naming the check that is there to catch
that bug. A correct in_out adapter over the reference (every weight stored
transposed) passes, and fails the layout conversion once to_canonical and
to_native are made no-ops: the point of issue 11's item 4."""

from __future__ import annotations

import copy
import dataclasses
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from conformance.adapters.base import Index, Param
from conformance.arch import Arch, Kind
from conformance.frameworks.reference.adapter import ReferenceAdapter
from conformance.profile import Profile
from conformance.reference import nn
from conformance.testing import CHECK_NAMES, ContractFailure, check_adapter


def _profile(**facts: Any) -> Profile:
    base = ReferenceAdapter.default_profile()
    return dataclasses.replace(base, facts=dataclasses.replace(base.facts, **facts))


IN_OUT = _profile(weight_layout="in_out")


class TransposedReference(ReferenceAdapter):
    """A correct adapter with an (in, out) native layout: the reference's
    weights, stored transposed by read/write/grad/shape/state_dict."""

    _profile = IN_OUT
    facts = IN_OUT.facts

    @staticmethod
    def _t(v: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(v.T) if np.ndim(v) == 2 else v

    def read(self, param: Param) -> np.ndarray:
        return self._t(super().read(param))

    def write(self, param: Param, value: np.ndarray) -> None:
        super().write(param, self._t(np.asarray(value)))

    def assign(self, param: Param, index: Index, value: np.ndarray | float) -> None:
        v = self.read(param)
        v[index] = value
        self.write(param, v)

    def grad(self, param: Param) -> np.ndarray | None:
        g = super().grad(param)
        return None if g is None else self._t(g)

    def shape(self, param: Param) -> tuple[int | None, ...] | None:
        s = super().shape(param)
        return s if s is None or len(s) != 2 else (s[1], s[0])

    def state_dict(self, model: Any) -> list[tuple[str, np.ndarray]]:
        return [(k, self._t(v)) for k, v in super().state_dict(model)]


def failing(adapter_class: type[ReferenceAdapter], profile: Profile | None = None) -> dict[str, list[str]]:
    with pytest.raises(ContractFailure) as info:
        check_adapter(adapter_class, profile=profile)
    assert isinstance(info.value, AssertionError)
    return info.value.failures


def test_the_reference_passes_every_check() -> None:
    result = check_adapter(ReferenceAdapter)
    assert set(result.passed) | set(result.not_applicable) == set(CHECK_NAMES)
    assert list(result.not_applicable) == ["lazy-import"]  # numpy, its framework, is the suite's own import


def test_an_in_out_adapter_passes_and_fails_with_no_op_layout_conversion(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    check_adapter(TransposedReference)  # a correct (in, out) adapter passes

    def identity(self: Any, kind: Kind, value: np.ndarray) -> np.ndarray:
        return value

    monkeypatch.setattr(TransposedReference, "to_canonical", identity)
    monkeypatch.setattr(TransposedReference, "to_native", identity)
    failures = failing(TransposedReference)
    assert "layout-conversion" in failures
    assert "layout" not in failures  # the native layout itself is right; the conversion is not
    text = "\n".join(failures["layout-conversion"])
    assert "Dense(4)" in text and "forward" in text  # the square net, which only the function tells apart


def test_a_no_op_to_canonical_alone_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(TransposedReference, "to_canonical", lambda self, kind, value: value)
    assert "layout-conversion" in failing(TransposedReference)


def test_a_no_op_to_native_alone_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(TransposedReference, "to_native", lambda self, kind, value: value)
    assert "layout-conversion" in failing(TransposedReference)


def test_the_failure_message_says_what_was_expected_and_observed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ReferenceAdapter, "sgd_step", lambda self, model, lr: None)
    with pytest.raises(AssertionError) as info:
        check_adapter(ReferenceAdapter)
    text = str(info.value)
    assert text.startswith("ReferenceAdapter (reference) fails 1 of")
    assert "[sgd-step]" in text and "expected" in text and "observed" in text and "max |difference|" in text


# -- one broken adapter per check -----------------------------------------------------------------
class WrongDescribe(ReferenceAdapter):
    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "name": "torch"}


class NoChildren(ReferenceAdapter):
    def num_children(self, block: Any) -> int:
        return max(0, super().num_children(block) - 1)


class SwappedRoles(ReferenceAdapter):
    def layer_params(self, layer: Any) -> list[tuple[str, Param]]:
        return [({"weight": "bias", "bias": "weight"}[r], p) for r, p in super().layer_params(layer)]


class CopiedTies(ReferenceAdapter):
    """Builds a tied layer as two layers with their own values."""

    def build(self, arch: Arch) -> Any:
        return super().build(arch.untied())


class AlwaysSame(ReferenceAdapter):
    def same(self, p: Param, q: Param) -> bool:
        return True


class ListingMissesOne(ReferenceAdapter):
    def all_params(self, model: Any) -> list[tuple[str, Param]]:
        return super().all_params(model)[:-1]


class Float64Read(ReferenceAdapter):
    def read(self, param: Param) -> np.ndarray:
        return super().read(param).astype(np.float64)


class ReadIsAView(ReferenceAdapter):
    def read(self, param: Param) -> np.ndarray:
        return param.value()


class AssignToACopy(ReferenceAdapter):
    def assign(self, param: Param, index: Index, value: np.ndarray | float) -> None:
        param.value().copy()[index] = value


class ZerosBeforeBackward(ReferenceAdapter):
    def grad(self, param: Param) -> np.ndarray | None:
        g = super().grad(param)
        return np.zeros(param.value().shape, np.float32) if g is None else g


class UpstreamIgnored(ReferenceAdapter):
    def backward(self, model: Any, x: np.ndarray, upstream: np.ndarray) -> None:
        super().backward(model, x, np.ones_like(upstream))


class ZeroGradNoOp(ReferenceAdapter):
    def zero_grad(self, model: Any) -> None:
        pass


class StepTwice(ReferenceAdapter):
    def sgd_step(self, model: Any, lr: float) -> None:
        super().sgd_step(model, 2 * lr)


class NonStrictLoadsNothing(ReferenceAdapter):
    def load_weights(self, model: Any, path: Path, mode: str) -> Any:
        return model if mode == "non-strict" else super().load_weights(model, path, mode)


class AnyModeGoes(ReferenceAdapter):
    def load_weights(self, model: Any, path: Path, mode: str) -> Any:
        return super().load_weights(model, path, "strict")


class WholeModelForgetsValues(ReferenceAdapter):
    def load_model(self, path: Path) -> Any:
        model = super().load_model(path)
        for _, p in super().all_params(model):
            super().write(p, np.zeros(p.value().shape, np.float32))
        return model


class NeverLazy(ReferenceAdapter):
    def build(self, arch: Arch) -> Any:
        return super().build(arch.with_lazy(False))


class InitializeEverything(ReferenceAdapter):
    """Initialises the whole model whatever block it is given (a root taken for the block)."""

    def initialize(self, block: Any, *, weight: Any = None, bias: Any = None, force: bool = True) -> None:
        root = getattr(self, "_root", block)
        self._root = root
        super().initialize(root, weight=weight, bias=bias, force=force)


class MixtureWithoutZeros(ReferenceAdapter):
    def initialize(self, block: Any, *, weight: Any = None, bias: Any = None, force: bool = True) -> None:
        from conformance.adapters.base import Init

        if weight is not None and weight.kind == "mixture":
            weight = Init("uniform", low=5.0, high=10.0)
        super().initialize(block, weight=weight, bias=bias, force=force)


class UnknownModeSaysNothing(ReferenceAdapter):
    def load_weights(self, model: Any, path: Path, mode: str) -> Any:
        if mode not in self.facts.load_modes:
            raise ValueError("bad mode")
        return super().load_weights(model, path, mode)


class SeedNoOp(ReferenceAdapter):
    def seed(self, seed: int) -> None:
        pass


class CanonicalWrites(ReferenceAdapter):
    """write() transposes behind the (out, in) profile's back for square weights."""

    def write(self, param: Param, value: np.ndarray) -> None:
        v = np.asarray(value)
        super().write(param, v.T if v.ndim == 2 and v.shape[0] == v.shape[1] else v)

    def to_native(self, kind: Kind, value: np.ndarray) -> np.ndarray:
        v = super().to_native(kind, value)
        return v.T if v.ndim == 2 and v.shape[0] == v.shape[1] else v


class UserBlockUnindexed(ReferenceAdapter):
    """A user-defined block's children are not reachable by index."""

    def num_children(self, block: Any) -> int:
        return super().num_children(block) if isinstance(block, nn.Sequential) else 0


class SharingCopiesValues(ReferenceAdapter):
    """Gives a sharing layer a copy of the source's parameter (a tie by value)."""

    def share_param(self, layer: Any, kind: Kind, param: Param) -> None:
        super().share_param(layer, kind, copy.deepcopy(param))


class StateLoadNoOp(ReferenceAdapter):
    def load_state_in_mode(self, model: Any, state: Any, mode: str) -> Any:
        return model


class CopyIsFresh(ReferenceAdapter):
    """'Copies' a model by building a fresh one of the same structure."""

    def copy_by(self, model: Any, op: str) -> Any:
        fresh = copy.deepcopy(model)
        for _, p in fresh.named_parameters():
            p.set_value(np.zeros_like(p.value()))
        return fresh


BROKEN: list[tuple[type[ReferenceAdapter], Profile | None, str]] = [
    (WrongDescribe, None, "identity"),
    (
        ReferenceAdapter,
        _profile(capabilities=ReferenceAdapter.facts.capabilities - {"whole_model_save"}),
        "capabilities",
    ),
    # (An adapter that builds lazily although its profile has no deferred_init
    # cannot be written any more: the template base's build() raises
    # NotApplicable for a lazy Arch then, whatever the hooks do.)
    (NoChildren, None, "structure"),
    (SwappedRoles, None, "layer-params"),
    (CopiedTies, None, "ties"),
    (AlwaysSame, None, "ties"),
    (ListingMissesOne, None, "listing"),
    (Float64Read, None, "shapes-and-dtype"),
    (ReferenceAdapter, IN_OUT, "layout"),
    (CanonicalWrites, None, "layout"),
    (ReadIsAView, None, "read-write"),
    (AssignToACopy, None, "assign"),
    (ZerosBeforeBackward, None, "grad-before-backward"),
    (ReferenceAdapter, _profile(initial_grad="zeros"), "grad-before-backward"),
    (UpstreamIgnored, None, "backward"),
    (ZeroGradNoOp, None, "zero-grad"),
    (StepTwice, None, "sgd-step"),
    (NonStrictLoadsNothing, None, "load-modes"),
    (AnyModeGoes, None, "load-modes"),
    (WholeModelForgetsValues, None, "whole-model"),
    (UnknownModeSaysNothing, None, "load-modes"),
    (NeverLazy, None, "deferred-init"),
    (InitializeEverything, None, "initialize"),
    (MixtureWithoutZeros, None, "initialize"),
    (SeedNoOp, None, "seed"),
    (UserBlockUnindexed, None, "custom-layers"),
    (SharingCopiesValues, None, "param-sharing"),
    (StateLoadNoOp, None, "state-round-trip"),
    (CopyIsFresh, None, "copy"),
]


@pytest.mark.parametrize(
    ("adapter_class", "profile", "check"),
    BROKEN,
    ids=[f"{check}:{cls.__name__}{'+profile' if p else ''}" for cls, p, check in BROKEN],
)
def test_each_check_catches_its_bug(
    adapter_class: type[ReferenceAdapter], profile: Profile | None, check: str
) -> None:
    failures = failing(adapter_class, profile)
    assert check in failures, f"{check} passed; failing: {sorted(failures)}"


def test_every_check_has_a_broken_adapter_it_catches() -> None:
    covered = {check for _, _, check in BROKEN} | {"layout-conversion", "lazy-import"}
    assert covered == set(CHECK_NAMES)


# -- lazy imports, with a framework of our own ------------------------------------------------------
def _plugin(root: Path, package: str, eager: bool) -> None:
    """A third-party plug-in: an adapter module, its profile, and a 'framework'."""
    (root / f"{package}_framework.py").write_text("VALUE = 1\n", encoding="utf-8")
    pkg = root / package
    pkg.mkdir()
    (pkg / "__init__.py").write_text("", encoding="utf-8")
    profile = (
        Path(sys.modules[ReferenceAdapter.__module__].__file__ or "")
        .with_name("profile.toml")
        .read_text(encoding="utf-8")
    )
    profile = profile.replace('module = "numpy"', f'module = "{package}_framework"')
    (pkg / "profile.toml").write_text(profile, encoding="utf-8")
    (pkg / "adapter.py").write_text(
        textwrap.dedent(
            f"""\
            {"import " + package + "_framework" if eager else ""}
            from conformance.frameworks.reference.adapter import ReferenceAdapter

            class PluginAdapter(ReferenceAdapter):
                pass
            """
        ),
        encoding="utf-8",
    )


@pytest.mark.parametrize("eager", [False, True])
def test_lazy_import_catches_a_module_level_framework_import(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, eager: bool
) -> None:
    package = f"contract_plugin_{'eager' if eager else 'lazy'}"
    _plugin(tmp_path, package, eager)
    monkeypatch.syspath_prepend(str(tmp_path))
    import importlib

    cls = importlib.import_module(f"{package}.adapter").PluginAdapter
    assert cls.module == f"{package}_framework"
    if eager:
        failures = failing(cls)
        assert list(failures) == ["lazy-import"]
        assert f"{package}_framework" in failures["lazy-import"][0]
    else:
        assert "lazy-import" in check_adapter(cls, checks=["lazy-import"]).passed
