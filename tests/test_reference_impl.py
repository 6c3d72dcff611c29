"""Tests of the suite's own numpy reference framework and functional oracle.

The oracle is checked against finite differences (and against torch where
installed); the stateful framework is checked against the oracle; the rest
pins down the behaviours the properties rely on: ties, names, state dicts,
files, seeding, deferred shapes and the Gluon-style initialise rule.
"""

from __future__ import annotations

import warnings
from pathlib import Path as FsPath

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conformance.adapters.base import Init, Uninitialized
from conformance.arch import Arch, Dense, Flatten, Node, ReLU, Sequential, mlp
from conformance.frameworks.reference.adapter import ReferenceAdapter
from conformance.reference import functional, init, nn

A = ReferenceAdapter()
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

NAMES = st.text(alphabet="ab -_é名", min_size=1, max_size=4)


@st.composite
def archs(draw: st.DrawFn, max_depth: int = 2, lazy: bool = False) -> Arch:
    """Small archs: nested Sequentials, optional names, and at most one tied
    (square) layer reused wherever the running width matches its width."""
    input_dim = draw(st.integers(1, 4))
    width = input_dim
    tie_width: int | None = None

    def seq(depth: int) -> tuple[Node, ...]:
        nonlocal width, tie_width
        children: list[Node] = []
        names: set[str] = set()
        for _ in range(draw(st.integers(1, 3))):
            kinds = ["dense", "dense", "relu", "flatten"] + (["seq"] if depth < max_depth else [])
            if tie_width is None or tie_width == width:
                kinds += ["tied", "tied"]
            kind = draw(st.sampled_from(kinds))
            name = draw(st.none() | NAMES)
            if name in names:
                name = None
            if name is not None:
                names.add(name)
            child: Node
            if kind == "dense":
                width = draw(st.integers(1, 4))
                child = Dense(width, name=name)
            elif kind == "tied":
                tie_width = width
                child = Dense(width, name=name, tie="shared")
            elif kind == "relu":
                child = ReLU(name=name)
            elif kind == "flatten":
                child = Flatten(name=name)
            else:
                child = Sequential(seq(depth + 1), name=name)
            children.append(child)
        return tuple(children)

    return Arch(Sequential(seq(0)), input_dim, lazy=lazy)


def random_params(arch: Arch, rng: np.random.Generator) -> dict:
    return {
        (u.path, k): rng.normal(size=(u.node.units, u.in_features) if k == "weight" else (u.node.units,))
        for u in arch.dense_layers()
        for k in ("weight", "bias")
    }


def batch(arch: Arch, rng: np.random.Generator, n: int = 3) -> tuple[np.ndarray, np.ndarray]:
    return rng.normal(size=(n, arch.input_dim)), rng.normal(size=(n, arch.output_dim))


# The chapter's shared-layer network: Dense(8) ReLU shared ReLU shared ReLU Dense(1).
SHARED = Arch(
    Sequential(
        (Dense(8), ReLU(), Dense(8, tie="s"), ReLU(), Dense(8, tie="s"), ReLU(), Dense(1)),
    ),
    input_dim=4,
)
NESTED = Arch(
    Sequential(
        (
            Sequential((Dense(3), ReLU()), name="block 1"),
            Sequential((Dense(3, tie="t", name="é-x"), Flatten()), name="名前"),
            Dense(3, tie="t"),
            Dense(2),
        )
    ),
    input_dim=3,
)


# -- the functional oracle ------------------------------------------------------------


def finite_difference(arch: Arch, params: dict, x: np.ndarray, up: np.ndarray, eps: float = 1e-6) -> dict:
    def f(p: dict) -> float:
        return float(np.sum(functional.forward(arch, p, x) * up))

    out = {}
    for key, value in params.items():
        g = np.zeros_like(value)
        for i in np.ndindex(value.shape):
            plus, minus = dict(params), dict(params)
            plus[key], minus[key] = value.copy(), value.copy()
            plus[key][i] += eps
            minus[key][i] -= eps
            g[i] = (f(plus) - f(minus)) / (2 * eps)
        out[key] = g
    return out


@SETTINGS
@given(arch=archs(), seed=st.integers(0, 2**32 - 1))
def test_grads_match_finite_differences(arch: Arch, seed: int) -> None:
    rng = np.random.default_rng(seed)
    params = random_params(arch, rng)
    x, up = batch(arch, rng)
    got = functional.grads(arch, params, x, up)
    assert list(got) == arch.param_refs()
    fd = finite_difference(arch, params, x, up)
    for key in got:
        assert got[key].dtype == np.float64
        np.testing.assert_allclose(got[key], fd[key], rtol=1e-5, atol=1e-6, err_msg=str(key))


@pytest.mark.parametrize("arch", [SHARED, NESTED])
def test_tied_gradient_is_the_sum_over_uses(arch: Arch) -> None:
    rng = np.random.default_rng(0)
    params = random_params(arch, rng)
    x, up = batch(arch, rng, n=5)
    untied = arch.untied()
    # The untied network with every copy holding the tied layer's values.
    owner = {u.path: next(v.path for v in arch.dense_uses() if v.key == u.key) for u in arch.dense_uses()}
    untied_params = {(p, k): params[(owner[p], k)] for p, k in untied.param_refs()}
    np.testing.assert_allclose(
        functional.forward(arch, params, x), functional.forward(untied, untied_params, x)
    )
    g_tied = functional.grads(arch, params, x, up)
    g_untied = functional.grads(untied, untied_params, x, up)
    for (p, k), g in g_tied.items():
        total = sum(g_untied[(q, k)] for q in owner if owner[q] == p)
        np.testing.assert_allclose(g, total, rtol=1e-12, atol=1e-12)


def test_functional_checks_shapes_and_keys() -> None:
    arch = mlp(3, 2, input_dim=4)
    params = random_params(arch, np.random.default_rng(0))
    with pytest.raises(ValueError, match="canonical"):
        functional.forward(arch, {**params, ((0,), "weight"): params[((0,), "weight")].T}, np.zeros((1, 4)))
    with pytest.raises(KeyError):
        functional.forward(arch, {k: v for k, v in params.items() if k != ((2,), "bias")}, np.zeros((1, 4)))


# -- the stateful framework against the oracle -------------------------------------------


@SETTINGS
@given(arch=archs(), seed=st.integers(0, 2**32 - 1))
def test_model_forward_and_backward_match_functional(arch: Arch, seed: int) -> None:
    rng = np.random.default_rng(seed)
    A.seed(seed)
    model = A.build(arch)
    params = A.read_params(model, arch)
    x, up = batch(arch, rng)
    y = A.forward(model, x)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, functional.forward(arch, params, x), rtol=1e-4, atol=1e-5)
    A.backward(model, x, up)
    want = functional.grads(arch, params, x, up)
    for key, g in A.read_grads(model, arch).items():
        assert g is not None and g.dtype == np.float32
        np.testing.assert_allclose(g, want[key], rtol=1e-4, atol=1e-5, err_msg=str(key))


def test_gradients_accumulate_until_zero_grad() -> None:
    model = A.build(SHARED)
    x, up = batch(SHARED, np.random.default_rng(1))
    assert all(g is None for g in A.read_grads(model, SHARED).values())
    A.backward(model, x, up)
    once = A.read_grads(model, SHARED)
    A.backward(model, x, up)
    twice = A.read_grads(model, SHARED)
    for key in once:
        g1, g2 = once[key], twice[key]
        assert g1 is not None and g2 is not None
        np.testing.assert_allclose(g2, 2 * g1, rtol=1e-6)
    A.zero_grad(model)
    assert all(g is None for g in A.read_grads(model, SHARED).values())


def test_sgd_steps_a_tied_parameter_once() -> None:
    model = A.build(SHARED)
    x, up = batch(SHARED, np.random.default_rng(2))
    A.backward(model, x, up)
    before = A.read_params(model, SHARED)
    g = A.read_grads(model, SHARED)
    A.sgd_step(model, 0.1)
    after = A.read_params(model, SHARED)
    for key in before:
        np.testing.assert_allclose(after[key], before[key] - np.float32(0.1) * g[key], rtol=1e-6, atol=1e-7)
    assert not np.allclose(after[((2,), "weight")], before[((2,), "weight")])


# -- names, listings, state dicts --------------------------------------------------------


def test_tied_layer_listed_once_but_kept_under_every_key() -> None:
    model = A.build(SHARED)
    assert model[2] is model[4]
    names = [n for n, _ in A.all_params(model)]
    assert names == ["0.weight", "0.bias", "2.weight", "2.bias", "6.weight", "6.bias"]
    keys = [k for k, _ in A.state_dict(model)]
    assert keys == ["0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias", "6.weight", "6.bias"]
    sd = model.state_dict()
    np.testing.assert_array_equal(sd["2.weight"], sd["4.weight"])
    sd["2.weight"][:] = 123  # a copy, not a view
    assert not np.any(model[2].weight.data == 123)


def test_names_follow_child_names_and_lookup_walks_them() -> None:
    model = A.build(NESTED)
    names = [n for n, _ in A.all_params(model)]
    assert names == [
        "block 1.0.weight",
        "block 1.0.bias",
        "名前.é-x.weight",
        "名前.é-x.bias",
        "3.weight",
        "3.bias",
    ]
    assert A.lookup(model, "名前.é-x.weight") is model[1][0].weight
    assert A.lookup(model, "2.bias") is model[1][0].bias  # the tied layer's second position
    with pytest.raises(KeyError):
        A.lookup(model, "block 1.7.weight")
    with pytest.raises(KeyError):
        A.lookup(model, "3.kernel")


def test_collect_params_uses_re_match() -> None:
    model = A.build(SHARED)
    assert [n for n, _ in A.select(model, ".*weight")] == ["0.weight", "2.weight", "6.weight"]
    assert [n for n, _ in A.select(model, "2")] == ["2.weight", "2.bias"]  # match: anchored at the start only
    assert [n for n, _ in A.select(model, "4")] == []  # the tied layer is listed at its first use
    assert len(model.collect_params()) == 6


@pytest.mark.parametrize("bad", ["", "a.b", "."])
def test_bad_child_names_raise(bad: str) -> None:
    seq = nn.Sequential()
    with pytest.raises(ValueError):
        seq.add(nn.ReLU(), name=bad)
    assert len(seq) == 0


def test_duplicate_and_non_str_names_raise_and_odd_names_are_fine() -> None:
    seq = nn.Sequential()
    for name in ["with space", "da-sh", "ünï", "名前"]:
        seq.add(nn.Dense(2, 2), name=name)
    with pytest.raises(ValueError):
        seq.add(nn.ReLU(), name="da-sh")
    with pytest.raises(TypeError):
        seq.add(nn.ReLU(), name=3)  # type: ignore[arg-type]
    seq.add(nn.ReLU())
    assert [n for n, _ in seq.named_children()] == ["with space", "da-sh", "ünï", "名前", "4"]
    seq.add(nn.ReLU(), name="6")
    with pytest.raises(ValueError):
        seq.add(nn.ReLU())  # its default name, its index "6", is taken


def test_load_state_dict_keeps_ties() -> None:
    A.seed(1)
    src = A.build(SHARED)
    A.seed(2)
    dst = A.build(SHARED)
    missing, unexpected = dst.load_state_dict(src.state_dict())
    assert missing == [] and unexpected == []
    assert dst[2] is dst[4]
    for (_, a), (_, b) in zip(A.state_dict(src), A.state_dict(dst)):
        np.testing.assert_array_equal(a, b)
    A.assign(A.param_at(dst, (4,), "weight"), (0, 0), 42.0)
    assert A.read(A.param_at(dst, (2,), "weight"))[0, 0] == 42.0


def test_load_state_dict_strictness_and_tie_disagreement() -> None:
    model = A.build(SHARED)
    sd = model.state_dict()
    before = A.state_dict(model)
    with pytest.raises(KeyError, match=r"4\.bias"):
        model.load_state_dict({k: v for k, v in sd.items() if k != "4.bias"})
    with pytest.raises(KeyError, match="extra"):
        model.load_state_dict({**sd, "extra": np.zeros(1)})
    bad = dict(sd)
    bad["4.weight"] = bad["4.weight"] + 1
    bad["0.bias"] = bad["0.bias"] + 5
    with pytest.raises(ValueError, match="tied"):
        model.load_state_dict(bad)
    for (_, a), (_, b) in zip(before, A.state_dict(model)):  # nothing was written
        np.testing.assert_array_equal(a, b)
    partial = {"0.bias": np.full(8, 3.0), "nope": np.zeros(2)}
    missing, unexpected = model.load_state_dict(partial, strict=False)
    assert unexpected == ["nope"] and "0.bias" not in missing and "4.weight" in missing
    np.testing.assert_array_equal(model[0].bias.data, np.full(8, 3.0, dtype=np.float32))
    with pytest.raises(ValueError, match="shape"):
        model.load_state_dict({"0.bias": np.zeros(7)}, strict=False)


# -- files -----------------------------------------------------------------------------


def test_weight_file_round_trips_odd_keys_exactly(tmp_path: FsPath) -> None:
    sd: dict[str, np.ndarray] = {
        "block 1.é-x.weight": np.arange(6, dtype=np.float32).reshape(2, 3),
        "名前.\"q'.bias": np.ones(2),
    }
    path = tmp_path / "w.params"  # no .npz suffix: the file must be written at exactly this path
    nn.save(sd, path)
    assert path.exists() and not (tmp_path / "w.params.npz").exists()
    back = nn.load(path)
    assert list(back) == list(sd)
    for k, v in sd.items():
        np.testing.assert_array_equal(back[k], v)


def test_save_and_load_weights_through_adapter(tmp_path: FsPath) -> None:
    A.seed(3)
    src = A.build(NESTED)
    A.seed(4)
    dst = A.build(NESTED)
    A.save_weights(src, tmp_path / "w")
    dst = A.load_weights(dst, tmp_path / "w", "strict")
    x = np.random.default_rng(0).normal(size=(4, 3))
    np.testing.assert_array_equal(A.forward(src, x), A.forward(dst, x))
    assert dst[1][0] is dst[2]
    with pytest.raises(ValueError, match="strict, non-strict"):
        A.load_weights(dst, tmp_path / "w", "assign")


def test_whole_model_save_keeps_tie_and_function(tmp_path: FsPath) -> None:
    model = A.build(SHARED)
    x, up = batch(SHARED, np.random.default_rng(5))
    A.backward(model, x, up)  # leaves a tape and gradients behind
    A.save_model(model, tmp_path / "m.pkl")
    back = A.load_model(tmp_path / "m.pkl")
    assert back[2] is back[4] and back is not model
    np.testing.assert_array_equal(A.forward(back, x), A.forward(model, x))
    A.assign(A.param_at(back, (2,), "bias"), (slice(None),), 7.0)
    np.testing.assert_array_equal(A.read(A.param_at(back, (4,), "bias")), np.full(8, 7.0, dtype=np.float32))


# -- deferred shapes ---------------------------------------------------------------------


def test_deferred_shapes_are_inferred_on_first_forward() -> None:
    arch = NESTED.with_lazy()
    model = A.build(arch)
    for path, kind in arch.param_refs():
        p = A.param_at(model, path, kind)
        if kind == "weight":
            shape = A.shape(p)
            assert shape is not None and None in shape
        with pytest.raises(Uninitialized):
            A.read(p)
    with pytest.raises(Uninitialized):
        model.state_dict()
    with pytest.raises(Uninitialized):
        init.Normal()(model[0][0].weight)  # torch style needs a shape
    A.forward(model, np.ones((2, 3)))
    for u in arch.dense_layers():
        assert A.shape(A.param_at(model, u.path, "weight")) == (u.node.units, u.in_features)
        assert A.read(A.param_at(model, u.path, "bias")).tolist() == [0.0] * u.node.units
    with pytest.raises(ValueError):
        A.forward(model, np.ones((2, 4)))


@SETTINGS
@given(arch=archs(), seed=st.integers(0, 2**16))
def test_lazy_model_computes_the_same_function_after_loading(arch: Arch, seed: int) -> None:
    A.seed(seed)
    eager = A.build(arch)
    lazy = A.build(arch.with_lazy())
    x, _ = batch(arch, np.random.default_rng(seed))
    lazy.forward(x)
    lazy.load_state_dict(eager.state_dict())
    np.testing.assert_array_equal(A.forward(lazy, x), A.forward(eager, x))


# -- seeding and initialisers ----------------------------------------------------------


def test_same_seed_same_values_different_seed_different() -> None:
    def values(seed: int) -> list[np.ndarray]:
        A.seed(seed)
        model = A.build(SHARED)
        A.initialize(model, weight=Init("normal", std=0.1), bias=Init("uniform"))
        return [v for _, v in A.state_dict(model)]

    for a, b in zip(values(7), values(7)):
        np.testing.assert_array_equal(a, b)
    assert not all(np.array_equal(a, b) for a, b in zip(values(7), values(8)))


def test_default_init_is_xavier_uniform_and_zero_bias() -> None:
    init.manual_seed(0)
    layer = nn.Dense(300, 200)
    bound = np.sqrt(6 / 500)
    w = layer.weight.data
    assert w is not None
    assert w.dtype == np.float32 and w.shape == (300, 200)
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.99 * bound
    assert abs(w.std() - bound / np.sqrt(3)) < 0.01 * bound
    assert not np.any(layer.bias.data)
    # the law the profile documents for the reference is this one
    law = ReferenceAdapter.facts.law("weight")  # the reference's profile
    assert (law["family"], law["fan"]) == ("uniform", "fan_avg")
    assert np.isclose(np.sqrt(law["scale"] / ((200 + 300) / 2)), bound)


@pytest.mark.parametrize(
    ("spec", "check"),
    [
        (Init("normal", mean=1.0, std=0.5), lambda w: abs(w.mean() - 1) < 0.02 and abs(w.std() - 0.5) < 0.02),
        (Init("zeros"), lambda w: not np.any(w)),
        (Init("constant", value=2.5), lambda w: np.all(w == 2.5)),
        (
            Init("uniform", low=-1, high=3),
            lambda w: w.min() >= -1 and w.max() <= 3 and abs(w.mean() - 1) < 0.05,
        ),
        (Init("xavier_uniform"), lambda w: np.abs(w).max() <= np.sqrt(6 / 300)),
        (Init("xavier_normal"), lambda w: abs(w.std() - np.sqrt(2 / 300)) < 0.002 and np.abs(w).max() > 0.2),
    ],
)
def test_builtin_initializers(spec: Init, check) -> None:
    model = A.build(mlp(200, input_dim=100))
    A.initialize(model, weight=spec, bias=None)
    w = A.read(model[0].weight)
    assert w.dtype == np.float32 and check(w)
    assert not np.any(A.read(model[0].bias))  # bias=None leaves the bias alone


def test_mixture_initializer() -> None:
    init.manual_seed(0)
    w = init.Mixture().sample((400, 500))
    a = np.abs(w)
    assert np.all((w == 0) | ((a >= 5) & (a <= 10)))
    assert abs(np.mean(w == 0) - 0.5) < 0.01
    assert abs(np.mean(w >= 5) - 0.25) < 0.01 and abs(np.mean(w <= -5) - 0.25) < 0.01


def test_torch_style_apply_is_post_order_and_visits_tied_once() -> None:
    model = A.build(NESTED)
    seen: list[str] = []
    model.apply(lambda b: seen.append(type(b).__name__))
    assert seen == ["Dense", "ReLU", "Sequential", "Dense", "Flatten", "Sequential", "Dense", "Sequential"]

    def init_weights(block: nn.Block) -> None:
        if type(block) is nn.Dense:
            init.Constant(1.0)(block.weight)
            init.Zeros()(block.bias)

    model.apply(init_weights)
    assert all(np.all(v == (1 if k.endswith("weight") else 0)) for k, v in model.state_dict().items())


def test_gluon_initialize_force_rule() -> None:
    model = A.build(SHARED)
    before = model.state_dict()
    with pytest.warns(UserWarning, match="force_reinit"):
        model.initialize(init.Constant(1.0))
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, before[k])
    model.initialize(init.Constant(1.0), force_reinit=True)
    for k, v in model.state_dict().items():  # the global initialiser is for weights; biases keep zeros
        assert np.all(v == (1 if k.endswith("weight") else 0))
    with pytest.warns(UserWarning):
        A.initialize(model, weight=Init("constant", value=2.0), force=False)
    assert np.all(A.read(model[0].weight) == 1)
    A.initialize(model[2], bias=Init("constant", value=3.0))  # a sub-block, one role
    assert np.all(A.read(model[4].bias) == 3) and np.all(A.read(model[0].bias) == 0)
    assert np.all(A.read(model[4].weight) == 1)


def test_gluon_initialize_on_deferred_model_waits_for_the_shape() -> None:
    arch = SHARED.with_lazy()
    model = A.build(arch)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing is initialised yet: no warning
        A.initialize(model, weight=Init("constant", value=0.5), force=False)
        A.initialize(model[6], bias=Init("constant", value=-1.0), force=False)
    assert A.shape(model[0].weight) == (8, None)
    A.forward(model, np.ones((1, 4)))
    assert np.all(A.read(model[0].weight) == 0.5) and np.all(A.read(model[6].weight) == 0.5)
    assert np.all(A.read(model[0].bias) == 0) and np.all(A.read(model[6].bias) == -1)


# -- cross-check with torch -------------------------------------------------------------


def torch_model(arch: Arch, params: dict):
    torch = pytest.importorskip("torch")
    tied: dict[str, object] = {}
    owner: dict[str, tuple[int, ...]] = {}
    for u in arch.dense_uses():
        owner.setdefault(u.key, u.path)

    def make(node: Node, path: tuple[int, ...]):
        if isinstance(node, Sequential):
            return torch.nn.Sequential(*(make(c, path + (i,)) for i, c in enumerate(node.children)))
        if isinstance(node, ReLU):
            return torch.nn.ReLU()
        if isinstance(node, Flatten):
            return torch.nn.Flatten()
        use = next(u for u in arch.dense_uses() if u.path == path)
        if use.key in tied:
            return tied[use.key]
        layer = torch.nn.Linear(use.in_features, node.units, dtype=torch.float64)
        with torch.no_grad():
            layer.weight.copy_(torch.from_numpy(params[(owner[use.key], "weight")]))
            layer.bias.copy_(torch.from_numpy(params[(owner[use.key], "bias")]))
        tied[use.key] = layer
        return layer

    return make(arch.root, ())


@pytest.mark.parametrize("arch", [SHARED, NESTED, mlp(5, 3, 2, input_dim=4)])
def test_oracle_agrees_with_torch(arch: Arch) -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(11)
    params = random_params(arch, rng)
    x, up = batch(arch, rng, n=6)
    net = torch_model(arch, params)
    y = net(torch.from_numpy(x))
    np.testing.assert_allclose(
        y.detach().numpy(), functional.forward(arch, params, x), rtol=1e-12, atol=1e-12
    )
    (y * torch.from_numpy(up)).sum().backward()
    want = functional.grads(arch, params, x, up)
    for path, kind in arch.param_refs():
        layer = net
        for i in path:
            layer = layer[i]
        got = getattr(layer, kind).grad.numpy()
        np.testing.assert_allclose(got, want[(path, kind)], rtol=1e-12, atol=1e-12, err_msg=str((path, kind)))
