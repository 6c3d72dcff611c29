"""What the property modules share: building seeded models, the reference
oracle with its float32 tolerance, and assertion helpers whose messages show
the values involved."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import replace

import numpy as np
from hypothesis import reject

from conformance.adapters.base import Adapter, Model, Param, Unbuildable
from conformance.arch import Arch, DenseUse, Kind, Node, ParamRef, Path, Sequential
from conformance.reference import functional

Values = dict[tuple[Path, Kind], np.ndarray]


def with_accepted_names(adapter: Adapter, arch: Arch) -> Arch:
    """``arch`` with every block name the framework documents as unacceptable
    (a forbidden character, a reserved word, outside TensorFlow's name-scope
    pattern) replaced by the chapter's Keras spelling ``block-<i>``: such names
    are outside the clauses, the rest of the example is not. Drawing the names
    again instead would discard most examples where the rules are strict."""

    def fix(node: Node, i: int, taken: set[str], in_custom: bool) -> Node:
        if isinstance(node, Sequential):
            names = {c.name for c in node.children if c.name is not None}
            node = replace(node, children=tuple(
                fix(c, j, names, node.custom) for j, c in enumerate(node.children)))
        if node.name is None or adapter.block_name_ok(node.name, in_custom_block=in_custom):
            return node
        new = next(n for n in (f"block-{i}", *(f"block-{i}-{k}" for k in range(1, len(taken) + 2)))
                   if n not in taken)
        taken.add(new)
        return replace(node, name=new)

    root = fix(arch.root, 0, set(), False)
    assert isinstance(root, Sequential)
    return Arch(root, arch.input_dim, arch.lazy)


def build(adapter: Adapter, arch: Arch, seed: int, *, as_given: bool = False) -> Model:
    """A model of ``arch`` built after seeding. An architecture holding one
    layer at two positions of a container is an input only where the
    framework can build that (capability ``repeated_child``): elsewhere the
    example is rejected (the strategies never draw one there; this catches the
    chapter's explicit examples), and so is one sharing parameters between
    distinct layers, transposed, or holding user-defined layers where the
    framework lacks ``param_sharing``, ``transposed_sharing`` or ``custom_layers``.
    Block names the framework documents as
    unacceptable (the chapter's 'block 0' under Keras 2's TF name scopes) are
    replaced as :func:`with_accepted_names` does: names do not change the
    structure the properties index. An architecture the framework refuses by a
    rule of its own (:class:`Unbuildable`) is rejected too: the clause is about
    what it does with the networks it builds, and a verdict must not depend on
    whether the run happened to draw one it refuses. ``as_given`` builds
    ``arch`` unchanged, for the clauses about what the framework makes of it."""
    caps = adapter.facts.capabilities
    for needed, cap in ((arch.shares_params(), "param_sharing"),
                        (arch.shares_transposed(), "transposed_sharing"),
                        (arch.has_custom(), "custom_layers")):
        if needed and cap not in caps:
            reject()  # never drawn there (the strategies read the capabilities); an explicit example
    if not as_given:
        if arch.repeats_in_container() and "repeated_child" not in caps:
            reject()
        arch = with_accepted_names(adapter, arch)
    adapter.seed(seed)
    try:
        return adapter.build(arch)
    except Unbuildable:
        if as_given:
            raise
        reject()


def build_with(adapter: Adapter, arch: Arch, seed: int, values: Values) -> Model:
    """A model of ``arch`` holding exactly ``values`` (canonical layout)."""
    model = build(adapter, arch, seed)
    adapter.write_params(model, values)
    return model


def abs_values(values: Values) -> Values:
    return {k: np.abs(v).astype(np.float64) for k, v in values.items()}


def forward_tolerance(adapter: Adapter, arch: Arch, values: Values, x: np.ndarray) -> np.ndarray:
    """Per-output tolerance: ``atol + rtol * B`` with B the same network run on
    absolute values, which bounds the sum of |terms| float32 rounding acts on."""
    bound = functional.forward(arch, abs_values(values), np.abs(x).astype(np.float64))
    return adapter.facts.atol + adapter.facts.rtol * bound


def grad_tolerance(
    adapter: Adapter, arch: Arch, values: Values, x: np.ndarray, upstream: np.ndarray
) -> Values:
    bound = functional.grads(arch, abs_values(values), np.abs(x).astype(np.float64), np.abs(upstream))
    return {k: adapter.facts.atol + adapter.facts.rtol * b for k, b in bound.items()}


def assert_close(actual: np.ndarray, expected: np.ndarray, tol: np.ndarray | float, what: str) -> None:
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape}, expected {expected.shape}"
    err = np.abs(actual - expected)
    bad = ~(err <= tol)  # NaN counts as bad
    if bad.any():
        i = tuple(int(j) for j in np.argwhere(bad)[0])
        t = np.broadcast_to(tol, err.shape)[i]
        raise AssertionError(
            f"{what}: {int(bad.sum())} of {err.size} entries differ beyond tolerance; "
            f"first at {i}: got {actual[i]!r}, expected {expected[i]!r}, |diff|={err[i]:.3g} > tol={t:.3g}"
        )


def assert_same_values(actual: np.ndarray, expected: np.ndarray, what: str) -> None:
    """Bit-for-bit equality (NaN never appears here)."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape}, expected {expected.shape}"
    if not np.array_equal(actual, expected):
        i = tuple(int(j) for j in np.argwhere(actual != expected)[0])
        raise AssertionError(
            f"{what}: {int((actual != expected).sum())} of {actual.size} entries differ; "
            f"first at {i}: got {actual[i]!r}, expected {expected[i]!r}"
        )


def assert_forward_is_function_of_params(adapter: Adapter, model: Model, arch: Arch, x: np.ndarray,
                                         what: str, out: np.ndarray | None = None) -> None:
    """The model's forward output (or ``out``, an output already computed) MUST
    be the reference forward pass computed from the values its parameters hold."""
    values = adapter.read_params(model, arch)
    got = adapter.forward(model, x) if out is None else out
    assert_close(got, functional.forward(arch, values, x), forward_tolerance(adapter, arch, values, x), what)


def assert_listing_is_each_parameter_once(adapter: Adapter, model: Model, arch: Arch, *,
                                          weight_first: bool = True) -> None:
    """The all-parameters listing MUST be every parameter object once, its
    layers in forward order (a shared layer at its first use); with
    ``weight_first``, also the weight before the bias within each layer."""
    listing = adapter.all_params(model)
    refs = arch.param_refs()
    assert len(listing) == len(refs), (
        f"listing has {len(listing)} entries ({[n for n, _ in listing]}) for {len(refs)} parameter objects"
    )
    if weight_first:
        for i, ((name, got), (path, kind)) in enumerate(zip(listing, refs)):
            assert adapter.same(got, adapter.param_at(model, path, kind)), (
                f"listing entry {i} ({name!r}) is not the {kind} of the layer at {path}"
            )
        return
    owners = []
    for i, (name, got) in enumerate(listing):
        found = [path for path, kind in refs if adapter.same(got, adapter.param_at(model, path, kind))]
        assert len(found) == 1, f"listing entry {i} ({name!r}) is {len(found)} of the model's parameters"
        owners.append(found[0])
    order = list(dict.fromkeys(owners))
    want = list(dict.fromkeys(path for path, _ in refs))
    assert order == want and len(set(map(id, (g for _, g in listing)))) == len(listing), (
        f"listing visits layers {order}, expected each once in forward order {want}"
    )


def relu_margin_ok(adapter: Adapter, arch: Arch, values: Values, x: np.ndarray) -> bool:
    """False when some ReLU input is non-zero but within float32 tolerance of
    the kink: there float32 and float64 may fall on different sides, and a
    gradient comparison with the oracle would be meaningless."""
    exact = functional.relu_inputs(arch, values, x)
    bound = functional.relu_inputs(arch, abs_values(values), np.abs(x).astype(np.float64))
    for z, b in zip(exact, bound):
        margin = adapter.facts.atol + adapter.facts.rtol * b
        if ((z != 0) & (np.abs(z) <= margin)).any():
            return False
    return True


def listed_names(adapter: Adapter, model: Model, params: Iterable[Param]) -> list[str]:
    """The listing's name of each parameter in ``params`` (matched by identity)."""
    listing = adapter.all_params(model)
    out = []
    for p in params:
        names = [n for n, q in listing if adapter.same(p, q)]
        assert len(names) == 1, f"parameter listed {len(names)} times in the listing ({names})"
        out.append(names[0])
    return out


def untied_values(values: Values, arch: Arch, untied: Arch) -> Values:
    """Values for ``untied`` (:meth:`Arch.untied`) giving every use the values
    of the parameters it applies in ``arch`` (a transposed use the transpose)."""
    out: Values = {}
    for tu, uu in zip(arch.dense_uses(), untied.dense_uses()):
        w = values[tu.weight_ref]
        out[(uu.path, "weight")] = np.ascontiguousarray(w.T) if tu.transposed else w
        out[(uu.path, "bias")] = values[tu.bias_ref]
    return out


def assert_shared(adapter: Adapter, model: Model, arch: Arch, what: str) -> None:
    """Every parameter the architecture shares (a layer at several positions,
    or distinct layers sharing it) MUST be one object at all its positions."""
    for ref, positions in arch.shared_params().items():
        first = adapter.param_at(model, positions[0].path, positions[0].kind)
        for pos in positions[1:]:
            assert adapter.same(adapter.param_at(model, pos.path, pos.kind), first), (
                f"{what}: the {pos.kind} reached at {pos.path} is not the object reached at "
                f"{positions[0].path} (shared {ref[1]} of the layer at {ref[0]})"
            )


def describe_sharing(arch: Arch, ref: ParamRef) -> str:
    """'the weight of the layer at (2,), reached at (2,), (4,) transposed' for messages."""
    where = ", ".join(f"{p.path}{' transposed' if p.transposed else ''}" for p in arch.positions()[ref])
    return f"the {ref[1]} of the layer at {ref[0]}, reached at {where}"


def named_chains(arch: Arch) -> Iterator[tuple[DenseUse, list[str]]]:
    """Each dense layer once, with the explicit names of its enclosing blocks
    and of the layer itself, outermost first."""
    for use in arch.dense_layers():
        chain = [a.name for a in use.ancestors if a.name is not None]
        if use.node.name is not None:
            chain.append(use.node.name)
        yield use, chain


def assert_names_unique(adapter: Adapter, model: Model) -> None:
    """The listed parameter names MUST be pairwise distinct."""
    names = [n for n, _ in adapter.all_params(model)]
    dupes = sorted({n for n in names if names.count(n) > 1})
    assert not dupes, f"names listed more than once: {dupes}"


def assert_named_through(name: str, chain: list[str], sep: str, what: str) -> None:
    """``name``, split at ``sep``, MUST hold every name of ``chain`` as a
    segment, in this order (other segments may come between)."""
    segments = name.split(sep)
    it = iter(segments)
    assert all(any(seg == c for seg in it) for c in chain), (
        f"{what} is named {name!r}; segments {segments} should contain {chain} in this order"
    )
