"""Every bad input gets a clear one-line error of a SigpropError subclass, never a NaN or a crash.

Each test names the mistake and checks the exception class and that the message is one line and
says what is wrong (issue 12, "Every answer, or a clear error").
"""

from __future__ import annotations

import pytest

from sigprop.errors import InvalidParameterError, ResourceLimitError, SigpropError, UnknownNonlinearityError
from sigprop.nonlinearities import MAX_POLAR_NODES, nonlinearity, polar_nodes


def one_line(err: pytest.ExceptionInfo, *fragments: str) -> str:
    message = str(err.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, message
    return message


# --- custom φ that no Gaussian expectation can use -------------------------------------------


@pytest.mark.parametrize(
    ("text", "where"),
    [("0/0", "φ(0) = nan"), ("sqrt(x)", "φ(-1e-12) = nan"), ("log(x)", "φ(0) = -inf"), ("1/x", "φ(0) = inf"),
     ("abs(x)**0.5", "φ'(0) = inf")],
)
def test_phi_not_finite_on_the_real_line_is_refused_with_the_point(text: str, where: str) -> None:
    with pytest.raises(UnknownNonlinearityError) as err:
        nonlinearity(text)
    one_line(err, "is not finite on the Gaussian's support", where)


@pytest.mark.parametrize(
    ("text", "pole"), [("tan(x)", "-1.5708"), ("1/(x-0.3)**2", "0.3"), ("where(x > 0, 1/x, 0)", "x = 0 ")]
)
def test_phi_with_a_pole_between_grid_points_is_refused(text: str, pole: str) -> None:
    with pytest.raises(UnknownNonlinearityError) as err:
        nonlinearity(text)
    one_line(err, "has a pole near", pole, "E[φ(√q z)²] is infinite")


@pytest.mark.parametrize("text", ["heaviside(x - 1)", "1/(1 + (x - 0.3)**2)", "where(x > 0, sqrt(x + 1e-3), 0)"])
def test_jumps_roots_and_bounded_peaks_are_not_mistaken_for_poles(text: str) -> None:
    assert nonlinearity(text).name


def test_many_kinks_are_refused_by_cost_before_any_integral() -> None:
    with pytest.raises(ResourceLimitError) as err:
        nonlinearity("abs(sin(0.5*x))")  # 19 kinks: 8.4e6 polar nodes per correlation, 25 s and 1.3 GB a point
    one_line(err, "too many kinks: 19", "at most")
    with pytest.raises(ResourceLimitError) as err:
        nonlinearity("abs(sin(10*x))")
    one_line(err, "too many kinks: at least 64")


def test_a_few_kinks_stay_within_the_node_budget() -> None:
    phi = nonlinearity("abs(sin(0.25*x))")  # 9 kinks
    assert len(phi.kinks) == 9 and polar_nodes(phi.kinks) <= MAX_POLAR_NODES


# --- parser messages -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "fragment"),
    [("1e400", "number '1e400' is too large for float64"), ("-1e400", "number '1e400' is too large"),
     ("1j", "complex number literal '1j'"), ("True", "boolean literal 'True'"),
     ("1" + "0" * 310, "(311 digits) is too large for float64")],
)
def test_literals_get_a_precise_message_not_unknown_nonlinearity(text: str, fragment: str) -> None:
    with pytest.raises(UnknownNonlinearityError) as err:
        nonlinearity(text)
    message = one_line(err, fragment)
    assert "known:" not in message and len(message) < 200


def test_long_user_text_is_never_echoed_in_full() -> None:
    with pytest.raises(UnknownNonlinearityError) as err:
        nonlinearity("a" * 300)
    assert len(one_line(err, "unknown nonlinearity", "...")) < 250


def test_registry_parameter_must_be_a_number() -> None:
    with pytest.raises(InvalidParameterError) as err:
        nonlinearity("leaky_relu", alpha="a")
    one_line(err, "alpha must be a real number, got 'a'")
    assert isinstance(err.value, SigpropError)
