"""The 'conformance' Hypothesis profile and the settings decorators built on it."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from conformance import hypothesis_profile
from conformance.strategies import STAT_EXAMPLES, property_settings, statistical_settings


@pytest.fixture
def restore() -> Iterator[None]:
    yield
    hypothesis_profile.register()  # the defaults, as a session without options registers them


def test_registered_not_loaded(restore: None) -> None:
    current = settings.get_current_profile_name()
    profile = hypothesis_profile.register(max_examples=9, derandomize=True)
    assert settings.get_current_profile_name() == current
    assert settings.default is not profile
    assert settings.get_profile("conformance") is profile
    assert (profile.max_examples, profile.derandomize, profile.deadline, profile.database) == (
        9,
        True,
        None,
        None,
    )
    assert Phase.explain not in profile.phases


def test_decorators_take_the_profile_when_applied(restore: None) -> None:
    hypothesis_profile.register(max_examples=9, derandomize=True)

    def prop() -> Callable[[], None]:
        @given(st.integers())
        def f(x: int) -> None:
            pass

        return f

    plain = property_settings(prop())._hypothesis_internal_use_settings  # type: ignore[attr-defined]
    stat = statistical_settings(prop())._hypothesis_internal_use_settings  # type: ignore[attr-defined]
    assert (plain.max_examples, plain.derandomize) == (9, True)
    # Statistical properties keep the count the false-alarm budget is planned on.
    assert (stat.max_examples, stat.derandomize) == (STAT_EXAMPLES, True)
    assert tuple(stat.phases) == (Phase.explicit, Phase.generate)


def test_bad_count_refused() -> None:
    with pytest.raises(ValueError):
        hypothesis_profile.register(max_examples=0)
