"""The ``conformance`` Hypothesis settings profile.

The plugin registers it before collection from the run's ``--max-examples``
and ``--derandomize`` (:func:`register`); every property's settings decorator
(:func:`conformance.strategies.property_settings`,
:func:`~conformance.strategies.statistical_settings`) takes it as its
``parent`` when its module is imported, so the property inherits the run's
example count and everything else the suite fixes (no deadline, no example
database, the health checks it suppresses, no explain phase).

The profile is registered, never loaded: ``settings.load_profile`` would
change every Hypothesis test of the pytest session, and the plugin is loaded
in sessions whose other tests are none of its business. A module imported
without the plugin (the plugin disabled, or a script) gets the profile with
the defaults (:func:`get`).

Importing this module imports nothing; Hypothesis is imported by the
functions, which the plugin calls only once Hypothesis is imported anyway or
an option asks for something other than the default.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hypothesis import settings

NAME = "conformance"
DEFAULT_MAX_EXAMPLES = 100  # conformance.options.DEFAULT_MAX_EXAMPLES


def register(*, max_examples: int = DEFAULT_MAX_EXAMPLES, derandomize: bool = False) -> settings:
    """Register (or replace) the ``conformance`` profile and return it. Its
    parent is the current default (the loaded profile, e.g. Hypothesis's
    ``ci`` or one from ``--hypothesis-profile``), as a property's own
    ``@settings`` would inherit."""
    from hypothesis import HealthCheck, Phase, settings

    if max_examples < 1:
        raise ValueError(f"max_examples must be >= 1, got {max_examples}")
    settings.register_profile(
        NAME,
        max_examples=max_examples,
        derandomize=derandomize,
        deadline=None,  # a slow framework call must never fail a property
        database=None,  # a run is a function of its seed, not of earlier runs
        report_multiple_bugs=False,
        print_blob=False,
        # Not the explain phase: it re-runs a failing example many times to say
        # which arguments matter, each run building framework models; for an
        # expected deviation that is minutes per run spent on every run.
        phases=tuple(p for p in Phase if p is not Phase.explain),
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.function_scoped_fixture,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
        ],
    )
    return settings.get_profile(NAME)


def get() -> settings:
    """The registered profile; registered with the defaults if it is not yet."""
    from hypothesis import settings
    from hypothesis.errors import InvalidArgument

    try:
        return settings.get_profile(NAME)
    except InvalidArgument:
        return register()
