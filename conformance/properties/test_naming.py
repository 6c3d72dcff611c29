"""Properties of specs/naming.md."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from conformance.arch import Arch, Dense, Sequential
from conformance.properties._support import (
    assert_listing_is_each_parameter_once,
    assert_named_through,
    assert_names_unique,
    build,
    listed_names,
    named_chains,
    with_accepted_names,
)
from conformance.strategies import (
    CHAPTER_MLP,
    CHAPTER_RGNET,
    SAME_NAME_TWO_USER_BLOCKS,
    architectures,
    block_names,
    property_settings,
    seeds,
)

NAMED = architectures(names=block_names(), custom=None)
#: 'a.b' beside 'a' holding 'b': where a framework accepts '.' in a block name,
#: joined names can collide ('a.b.weight' twice).
DOTTED_COLLISION = Arch(
    Sequential((Dense(2, name="a.b"), Sequential((Dense(2, name="b"),), name="a"))), input_dim=2
)
#: A layer name used in two blocks ('proj' in 'enc' and in 'dec'): names that
#: leave out the enclosing blocks collide ('proj/kernel:0' twice).
SAME_NAME_TWO_BLOCKS = Arch(
    Sequential(
        (Sequential((Dense(2, name="proj"),), name="enc"), Sequential((Dense(2, name="proj"),), name="dec"))
    ),
    input_dim=2,
)


@pytest.mark.clause("naming.listing-order")
@property_settings
@given(arch=architectures(ties=False), seed=seeds())
@example(arch=CHAPTER_MLP, seed=0)
@example(arch=CHAPTER_RGNET, seed=0)
def test_listing_follows_layer_order_weight_before_bias(adapter, arch, seed):
    """naming.listing-order: the all-parameters listing MUST contain every
    parameter once, in forward layer order, weight before bias."""
    assert_listing_is_each_parameter_once(adapter, build(adapter, arch, seed), arch)


@pytest.mark.clause("naming.unique-names")
@property_settings
@given(arch=NAMED, seed=seeds())
@example(arch=CHAPTER_RGNET, seed=0)
@example(arch=DOTTED_COLLISION, seed=0)
@example(arch=SAME_NAME_TWO_BLOCKS, seed=0)
@example(arch=SAME_NAME_TWO_USER_BLOCKS, seed=0)
def test_parameter_names_are_unique(adapter, arch, seed):
    """naming.unique-names: for any nesting and accepted block names, listed
    names MUST be pairwise distinct."""
    arch = with_accepted_names(adapter, arch)
    assert_names_unique(adapter, build(adapter, arch, seed))


@pytest.mark.clause("naming.block-names")
@pytest.mark.requires("block_names")
@property_settings
@given(arch=NAMED, seed=seeds())
@example(arch=CHAPTER_RGNET, seed=0)
@example(arch=SAME_NAME_TWO_USER_BLOCKS, seed=0)
def test_block_names_are_accepted_and_used(adapter, arch, seed):
    """naming.block-names: names with spaces, dashes and non-ASCII letters MUST
    be accepted, and MUST appear in the names of the parameters inside."""
    arch = with_accepted_names(adapter, arch)
    assume(any(chain for _, chain in named_chains(arch)))
    model = build(adapter, arch, seed)
    for use, chain in named_chains(arch):
        for kind in ("weight", "bias"):
            [name] = listed_names(adapter, model, [adapter.param_at(model, use.path, kind)])
            missing = [c for c in chain if c not in name]
            assert not missing, (
                f"{kind} at {use.path} is listed as {name!r}, which lacks block names {missing}"
            )


@pytest.mark.clause("naming.hierarchical")
@pytest.mark.requires("block_names")
@property_settings
@given(arch=NAMED, seed=seeds())
@example(arch=CHAPTER_RGNET, seed=0)
def test_names_mirror_the_nesting(adapter, arch, seed):
    """naming.hierarchical: split at the separator, a parameter's name MUST
    contain its enclosing blocks' names as segments, outermost first."""
    arch = with_accepted_names(adapter, arch)
    sep = adapter.facts.name_separator
    assume(all(sep not in c for _, chain in named_chains(arch) for c in chain))
    model = build(adapter, arch, seed)
    for use, chain in named_chains(arch):
        [name] = listed_names(adapter, model, [adapter.param_at(model, use.path, "weight")])
        assert_named_through(name, chain, sep, f"weight at {use.path}")


@pytest.mark.clause("naming.lookup-by-name")
@property_settings
@given(arch=architectures(custom=None), seed=seeds())
@example(arch=CHAPTER_MLP, seed=0)
@example(arch=CHAPTER_RGNET, seed=0)
@example(arch=SAME_NAME_TWO_USER_BLOCKS, seed=0)
def test_lookup_by_name_returns_the_structural_object(adapter, arch, seed):
    """naming.lookup-by-name: looking a listed name up MUST return the object
    structural indexing reaches."""
    model = build(adapter, arch, seed)
    for path, kind in arch.param_refs():
        p = adapter.param_at(model, path, kind)
        [name] = listed_names(adapter, model, [p])
        try:
            found = adapter.lookup(model, name)
        except KeyError as exc:  # the framework's lookup idiom cannot find its own listed name
            raise AssertionError(f"lookup({name!r}) of the {kind} at {path} failed: {exc}") from exc
        assert adapter.same(found, p), f"lookup({name!r}) is not the {kind} reached by indexing {path}"


@pytest.mark.clause("naming.state-dict-agrees")
@property_settings
@given(arch=NAMED, seed=seeds())
@example(arch=CHAPTER_MLP, seed=0)
@example(arch=DOTTED_COLLISION, seed=0)
@example(arch=SAME_NAME_TWO_BLOCKS, seed=0)
@example(arch=SAME_NAME_TWO_USER_BLOCKS, seed=0)
def test_state_dict_agrees_with_parameters(adapter, arch, seed):
    """naming.state-dict-agrees: every listed parameter MUST appear in the
    state dict under its name, holding the parameter's value."""
    arch = with_accepted_names(adapter, arch)
    model = build(adapter, arch, seed)
    sd = dict(adapter.state_dict(model))
    for name, p in adapter.all_params(model):
        assert name in sd, f"listed parameter {name!r} missing from the state dict keys {sorted(sd)}"
        assert np.array_equal(sd[name], adapter.read(p)), (
            f"state dict value of {name!r} differs from the parameter"
        )


@pytest.mark.clause("naming.pattern-selection")
@pytest.mark.requires("pattern_selection")
@property_settings
@given(arch=architectures(), seed=seeds(), data=st.data())
def test_pattern_selection_returns_exactly_the_matches(adapter, arch, seed, data):
    """naming.pattern-selection: selection by a regular expression MUST return
    exactly the matching parameters in listing order; '.*weight' every weight."""
    model = build(adapter, arch, seed)
    listing = adapter.all_params(model)
    weights = adapter.select(model, ".*weight")
    want = [adapter.param_at(model, p, "weight") for p, k in arch.param_refs() if k == "weight"]
    assert len(weights) == len(want) and all(adapter.same(a, b) for (_, a), b in zip(weights, want)), (
        f"'.*weight' selected {[n for n, _ in weights]}, expected the {len(want)} weights"
    )
    name = data.draw(st.sampled_from([n for n, _ in listing]), label="a listed name")
    cut = data.draw(st.integers(1, len(name)), label="prefix length")
    pattern = re.escape(name[:cut]) + data.draw(st.sampled_from(["", ".*", "$"]), label="suffix")
    got = [n for n, _ in adapter.select(model, pattern)]
    expected = [n for n, _ in listing if re.match(pattern, n)]
    assert got == expected, f"select({pattern!r}) gave {got}, expected {expected}"


@pytest.mark.clause("naming.pattern-selection")
@pytest.mark.requires("pattern_selection")
@property_settings
@given(arch=architectures(), seed=seeds())
@example(arch=CHAPTER_RGNET, seed=0)  # '1\.' must select 1.weight, not 0.block 1.0.weight
def test_block_prefixes_select_exactly_their_blocks(adapter, arch, seed):
    """naming.pattern-selection on every block prefix of every listed name: the
    pattern MUST select the names it matches from their start, and no name it
    only occurs inside (a block's prefix can appear deeper in another name)."""
    model = build(adapter, arch, seed)
    listing = [n for n, _ in adapter.all_params(model)]
    sep = adapter.facts.name_separator
    prefixes = {n[:i] for n in listing for i in range(1, len(n) + 1) if n[i - 1] == sep or i == len(n)}
    for prefix in sorted(prefixes):
        pattern = re.escape(prefix)
        got = [n for n, _ in adapter.select(model, pattern)]
        expected = [n for n in listing if re.match(pattern, n)]
        assert got == expected, f"select({pattern!r}) gave {got}, expected {expected}"


@pytest.mark.clause("naming.positional-names-stable")
@property_settings
@given(arch=architectures(), seeds_=st.tuples(seeds(), seeds()))
@example(arch=CHAPTER_MLP, seeds_=(0, 1))
def test_positional_names_are_stable(adapter, arch, seeds_):
    """naming.positional-names-stable: building the same architecture twice
    MUST give the same names (`state_dict()['2.bias']` is always there)."""
    first = [n for n, _ in adapter.all_params(build(adapter, arch, seeds_[0]))]
    second = [n for n, _ in adapter.all_params(build(adapter, arch, seeds_[1]))]
    assert first == second, f"names differ between two builds: {first} vs {second}"


@pytest.mark.clause("naming.generated-names-counter")
@property_settings
@given(arch=architectures(), seed=seeds())
@example(arch=CHAPTER_MLP, seed=0)
def test_generated_names_come_from_a_counter(adapter, arch, seed):
    """naming.generated-names-counter: building the same architecture twice in
    one process MUST give different generated names."""
    first = {n for n, _ in adapter.all_params(build(adapter, arch, seed))}
    second = {n for n, _ in adapter.all_params(build(adapter, arch, seed))}
    assert first.isdisjoint(second), f"names repeated across two builds: {sorted(first & second)}"
