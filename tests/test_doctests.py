"""The docstring examples of every sigprop module run, and give what they show."""

import doctest
import importlib
import pkgutil

import pytest

import sigprop

pytestmark = pytest.mark.slow  # ~45 s in all, mostly first compilations

OPTIONAL = ("sigprop.init.torch_", "sigprop.init.jax_")
"""Modules that need an optional framework (PyTorch, Equinox): skipped when it is missing."""

MODULES = sorted(
    m.name for m in pkgutil.walk_packages(sigprop.__path__, "sigprop.") if not m.name.split(".")[-1].startswith("__")
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_hold(name):
    if name in OPTIONAL:
        module = pytest.importorskip(name)
    else:
        module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} docstring examples in {name} failed"
