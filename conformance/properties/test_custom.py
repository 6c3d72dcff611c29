"""Properties of specs/custom-layers.md."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, example, given

from conformance.properties._support import (
    assert_forward_is_function_of_params,
    assert_listing_is_each_parameter_once,
    assert_named_through,
    assert_names_unique,
    build,
    build_with,
    listed_names,
    named_chains,
    with_accepted_names,
)
from conformance.strategies import (
    CHAPTER_LINEAR,
    NESTED_CUSTOM,
    SAME_NAME_TWO_USER_BLOCKS,
    architectures,
    block_names,
    cases,
    chapter_case,
    property_settings,
    seeds,
)

#: Networks holding at least one user-defined layer or block.
CUSTOM = architectures(custom=True).filter(lambda a: a.has_custom())
#: ... with block names, for the naming clause.
NAMED_CUSTOM = architectures(custom=True, names=block_names()).filter(lambda a: a.has_custom())


@pytest.mark.clause("custom.params-tracked")
@property_settings
@given(case=cases(CUSTOM), seed=seeds())
@example(case=chapter_case(CHAPTER_LINEAR), seed=0).via("004 4.2.2")
@example(case=chapter_case(NESTED_CUSTOM), seed=0)
def test_user_defined_layers_parameters_are_tracked(adapter, case, seed):
    """custom.params-tracked: every parameter of a user-defined layer or
    block MUST be listed once, in the state dict under its name with its
    value, found by lookup, reached by indexing, and used by the forward pass."""
    arch = with_accepted_names(adapter, case.arch)
    model = build(adapter, arch, seed)
    for use in arch.dense_layers():
        roles = sorted(k for k, _ in adapter.layer_params(adapter.block_at(model, use.path)))
        assert roles == ["bias", "weight"], (
            f"the {'user-defined' if use.node.custom else 'built-in'} layer at {use.path} holds "
            f"{roles or 'no'} parameters; it creates a weight and a bias"
        )
    adapter.write_params(model, case.values)
    assert_listing_is_each_parameter_once(adapter, model, arch, weight_first=False)
    sd = dict(adapter.state_dict(model))
    for path, kind in arch.param_refs():
        p = adapter.param_at(model, path, kind)
        [name] = listed_names(adapter, model, [p])
        assert name in sd, (
            f"the {kind} at {path} is listed as {name!r}, which the state dict lacks ({sorted(sd)})"
        )
        assert np.array_equal(sd[name], adapter.read(p)), (
            f"state dict value of {name!r} differs from the parameter"
        )
        try:
            found = adapter.lookup(model, name)
        except KeyError as exc:
            raise AssertionError(f"lookup({name!r}) of the {kind} at {path} failed: {exc}") from exc
        assert adapter.same(found, p), f"lookup({name!r}) is not the {kind} reached by indexing {path}"
    assert_forward_is_function_of_params(adapter, model, arch, case.x,
                                         "forward output with user-defined layers")


@pytest.mark.clause("custom.nested-names")
@property_settings
@given(case=cases(NAMED_CUSTOM), seed=seeds())
@example(case=chapter_case(NESTED_CUSTOM), seed=0)
@example(case=chapter_case(SAME_NAME_TWO_USER_BLOCKS), seed=0)
@example(case=chapter_case(CHAPTER_LINEAR), seed=0)
def test_names_run_through_user_defined_blocks(adapter, case, seed):
    """custom.nested-names: a parameter's name MUST hold every enclosing named
    block (user-defined or built-in) as a segment, outermost first, then the
    layer's own name; all names MUST be distinct."""
    arch = with_accepted_names(adapter, case.arch)
    sep = adapter.facts.name_separator
    assume(all(sep not in c for _, chain in named_chains(arch) for c in chain))
    model = build_with(adapter, arch, seed, case.values)
    assert_names_unique(adapter, model)
    for use, chain in named_chains(arch):
        for kind in ("weight", "bias"):
            if use.ref(kind)[0] != use.path:
                continue  # a shared parameter is named where its owner is
            [name] = listed_names(adapter, model, [adapter.param_at(model, use.path, kind)])
            assert_named_through(name, chain, sep, f"the {kind} of the layer at {use.path}")
