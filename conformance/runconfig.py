"""The options of the current conformance run that shape Hypothesis settings.

The pytest plugin sets them in ``pytest_configure``, before the property
modules are imported, and :mod:`conformance.strategies` reads them when those
modules apply ``property_settings`` / ``statistical_settings``. This module
imports nothing, so the plugin can set it in any pytest session for free.
"""

from __future__ import annotations

max_examples: int = 100
derandomize: bool = False
#: Whether the run's framework can hold one layer at two positions of one
#: container (capability ``repeated_child``); set by the plugin's ``adapter``
#: fixture, read by :func:`conformance.strategies.architectures` at draw time.
repeated_child: bool = True


def configure(*, max_examples: int, derandomize: bool) -> None:
    if max_examples < 1:
        raise ValueError(f"max_examples must be >= 1, got {max_examples}")
    globals().update(max_examples=max_examples, derandomize=derandomize)


def configure_framework(*, repeated_child: bool) -> None:
    globals().update(repeated_child=repeated_child)
