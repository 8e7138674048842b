"""Tests for :mod:`sigprop.expression`: the safe expression parser and kink finder."""

from __future__ import annotations

import ast
import builtins
import dataclasses
import inspect
import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.special as sp
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import sigprop.expression as expression_module
from sigprop.expression import (
    FUNCTIONS,
    MAX_DEPTH,
    MAX_KINKS,
    MAX_LENGTH,
    MAX_NODES,
    Expression,
    ExpressionError,
    find_kinks,
    parse_expression,
)

RTOL = 1e-14
GRID = np.linspace(-6.0, 6.0, 241)
POSITIVE = np.linspace(0.01, 6.0, 241)
NONZERO = np.concatenate([-POSITIVE[::-1], POSITIVE])
NARROW = np.linspace(-1.5, 1.5, 241)


def _close(actual: object, expected: object) -> None:
    np.testing.assert_allclose(np.asarray(actual), np.asarray(expected), rtol=RTOL, atol=0)


# --------------------------------------------------------------------------------------------
# Values of every allowed construct
# --------------------------------------------------------------------------------------------

VALUE_CASES: list[tuple[str, Callable[[np.ndarray], np.ndarray], np.ndarray]] = [
    ("x", lambda v: v, GRID),
    ("pi", lambda v: np.full_like(v, np.pi), GRID),
    ("e", lambda v: np.full_like(v, np.e), GRID),
    ("2.5", lambda v: np.full_like(v, 2.5), GRID),
    ("7", lambda v: np.full_like(v, 7.0), GRID),
    ("+x", lambda v: v, GRID),
    ("-x", lambda v: -v, GRID),
    ("x + 1.5", lambda v: v + 1.5, GRID),
    ("x - 2", lambda v: v - 2, GRID),
    ("3 * x", lambda v: 3 * v, GRID),
    ("x / 3", lambda v: v / 3, GRID),
    ("1 / x", lambda v: 1 / v, NONZERO),
    ("x ** 2", lambda v: v**2, GRID),
    ("x ** 3", lambda v: v**3, GRID),
    ("x ** -2", lambda v: v**-2.0, NONZERO),
    ("x ** 0.5", np.sqrt, POSITIVE),
    ("2 ** x", lambda v: 2.0**v, GRID),
    ("x ** x", lambda v: v**v, POSITIVE),
    ("(x + 1) * (x - 1)", lambda v: (v + 1) * (v - 1), GRID),
    ("pi * sin(x)", lambda v: np.pi * np.sin(v), GRID),
    ("1 / (1 + exp(-x))", lambda v: 1 / (1 + np.exp(-v)), GRID),
    ("tanh(2*x) + 0.1*x", lambda v: np.tanh(2 * v) + 0.1 * v, GRID),
    ("abs(x)", np.abs, GRID),
    ("sign(x)", np.sign, GRID),
    ("exp(x)", np.exp, GRID),
    ("expm1(x)", np.expm1, GRID),
    ("log(x)", np.log, POSITIVE),
    ("log1p(x)", np.log1p, POSITIVE),
    ("sqrt(x)", np.sqrt, POSITIVE),
    ("sin(x)", np.sin, GRID),
    ("cos(x)", np.cos, GRID),
    ("tan(x)", np.tan, NARROW),
    ("tanh(x)", np.tanh, GRID),
    ("sinh(x)", np.sinh, GRID),
    ("cosh(x)", np.cosh, GRID),
    ("arctan(x)", np.arctan, GRID),
    ("arcsinh(x)", np.arcsinh, GRID),
    ("erf(x)", sp.erf, GRID),
    ("erfc(x)", sp.erfc, GRID),
    ("sigmoid(x)", sp.expit, GRID),
    ("softplus(x)", lambda v: np.logaddexp(0.0, v), GRID),
    ("relu(x)", lambda v: np.maximum(v, 0.0), GRID),
    ("gelu(x)", lambda v: v * sp.ndtr(v), GRID),
    ("silu(x)", lambda v: v * sp.expit(v), GRID),
    ("swish(x)", lambda v: v * sp.expit(v), GRID),
    ("elu(x)", lambda v: np.where(v > 0, v, np.expm1(v)), GRID),
    ("square(x)", np.square, GRID),
    ("cube(x)", lambda v: v**3, GRID),
    ("heaviside(x)", lambda v: np.where(v >= 0, 1.0, 0.0), GRID),
    ("x * sigmoid(1.702*x)", lambda v: v * sp.expit(1.702 * v), GRID),
    ("maximum(x, 0.1*x)", lambda v: np.maximum(v, 0.1 * v), GRID),
    ("minimum(x, 1)", lambda v: np.minimum(v, 1.0), GRID),
    ("clip(x, -1, 1)", lambda v: np.clip(v, -1, 1), GRID),
    ("where(x > 0, x, 0.2*(exp(x)-1))", lambda v: np.where(v > 0, v, 0.2 * np.expm1(v)), GRID),
    ("where(x >= 1, 1, 0)", lambda v: np.where(v >= 1, 1.0, 0.0), GRID),
    ("where(x < 0, -x, x)", np.abs, GRID),
    ("where(x <= 0.5, x, 0.5)", lambda v: np.minimum(v, 0.5), GRID),
    ("where(sin(x) > cos(x), sin(x), cos(x))", lambda v: np.maximum(np.sin(v), np.cos(v)), GRID),
]


@pytest.mark.parametrize(("text", "reference", "grid"), VALUE_CASES, ids=[c[0] for c in VALUE_CASES])
def test_values_match_numpy(text: str, reference: Callable[[np.ndarray], np.ndarray], grid: np.ndarray) -> None:
    expr = parse_expression(text)
    out = expr(jnp.asarray(grid))
    assert out.dtype == jnp.float64
    assert out.shape == grid.shape
    _close(out, reference(grid))


def test_every_function_is_exercised() -> None:
    used = {
        node.func.id for text, _, _ in VALUE_CASES for node in ast.walk(ast.parse(text)) if isinstance(node, ast.Call)
    }
    assert used == set(FUNCTIONS)


def test_heaviside_and_sign_at_zero() -> None:
    zero = jnp.zeros(3)
    assert np.all(np.asarray(parse_expression("heaviside(x)")(zero)) == 1.0)
    assert np.all(np.asarray(parse_expression("sign(x)")(zero)) == 0.0)


def test_text_is_normalised_and_stable() -> None:
    expr = parse_expression("  x*sigmoid(1.702*x)  ")
    assert expr.text == "x * sigmoid(1.702 * x)"
    assert parse_expression(expr.text).text == expr.text


def test_expression_is_frozen_and_callable() -> None:
    expr = parse_expression("tanh(x)")
    assert isinstance(expr, Expression)
    with pytest.raises(dataclasses.FrozenInstanceError):
        expr.text = "x"  # type: ignore[misc]
    _close(expr(jnp.asarray(GRID)), np.tanh(GRID))


def test_output_shape_and_dtype_follow_input() -> None:
    expr = parse_expression("1")
    out = expr(jnp.ones((2, 3, 4)))
    assert out.shape == (2, 3, 4)
    assert out.dtype == jnp.float64
    out = parse_expression("x**2")(np.arange(5))
    assert out.dtype == jnp.float64
    _close(out, np.arange(5.0) ** 2)
    scalar = parse_expression("exp(x)")(1.0)
    assert scalar.shape == ()
    _close(scalar, math.e)


def test_inf_and_nan_are_allowed() -> None:
    out = np.asarray(parse_expression("log(x)")(jnp.array([-1.0, 0.0, 1.0])))
    assert np.isnan(out[0])
    assert out[1] == -np.inf
    assert out[2] == 0.0


def test_division_by_zero_literal_gives_inf() -> None:
    out = np.asarray(parse_expression("1/0 + x")(jnp.zeros(2)))
    assert np.all(np.isinf(out))


# --------------------------------------------------------------------------------------------
# Transformations
# --------------------------------------------------------------------------------------------


def test_jit_matches_eager() -> None:
    expr = parse_expression("where(x > 0, x, 0.2*(exp(x)-1)) + clip(x, -1, 1) * gelu(x)")
    x = jnp.asarray(GRID)
    _close(jax.jit(expr.fn)(x), expr(x))


def test_grad_matches_finite_differences() -> None:
    expr = parse_expression("x * sigmoid(1.702*x)")
    x = np.linspace(-5.0, 5.0, 41)
    grad = np.asarray(jax.vmap(jax.grad(expr.fn))(jnp.asarray(x)))
    h = 1e-6
    finite = (np.asarray(expr(x + h)) - np.asarray(expr(x - h))) / (2 * h)
    np.testing.assert_allclose(grad, finite, rtol=0, atol=1e-8)
    s = sp.expit(1.702 * x)
    np.testing.assert_allclose(grad, s + 1.702 * x * s * (1 - s), rtol=1e-13, atol=1e-15)


def test_jvp_matches_grad() -> None:
    expr = parse_expression("tanh(2*x) + 0.1*x**3")
    x = jnp.asarray(GRID)
    value, tangent = jax.jvp(expr.fn, (x,), (jnp.ones_like(x),))
    _close(value, expr(x))
    np.testing.assert_allclose(tangent, jax.vmap(jax.grad(expr.fn))(x), rtol=1e-13, atol=1e-15)


def test_grad_through_where_and_constants() -> None:
    elu_like = parse_expression("where(x > 0, x, 0.2*(exp(x)-1))")
    x = jnp.array([-2.0, -0.5, 0.5, 2.0])
    expected = np.where(np.asarray(x) > 0, 1.0, 0.2 * np.exp(np.asarray(x)))
    _close(jax.vmap(jax.grad(elu_like.fn))(x), expected)
    constant = parse_expression("pi")
    assert np.all(np.asarray(jax.vmap(jax.grad(constant.fn))(x)) == 0.0)
    second = jax.vmap(jax.grad(jax.grad(parse_expression("x**3").fn)))(x)
    _close(second, 6 * np.asarray(x))


# --------------------------------------------------------------------------------------------
# Rejections
# --------------------------------------------------------------------------------------------

REJECTIONS: list[tuple[str, str]] = [
    ("__import__('os')", "unknown function '__import__'"),
    ("open('f')", "unknown function 'open'"),
    ("eval('1')", "unknown function 'eval'"),
    ("x.__class__", "attribute access"),
    ("().__class__.__bases__", "attribute access"),
    ("[c for c in ()]", "comprehension"),
    ("(c for c in ())", "generator expression"),
    ("lambda: 1", "lambda"),
    ("x[0]", "subscripting"),
    ("'a'", "string literal"),
    ("b'a'", "bytes literal"),
    ("1j", "complex number literal '1j' is not allowed"),
    ("True", "boolean literal 'True' is not allowed"),
    ("None", "None literal 'None' is not allowed"),
    ("...", "ellipsis literal"),
    ("f'{x}'", "f-string"),
    ("exp(x=1)", "keyword argument"),
    ("exp(**x)", "keyword argument"),
    ("exp(*x)", "starred argument"),
    ("(y:=1)", "walrus"),
    ("x if x else 1", "conditional expression"),
    ("x and 1", "boolean operator 'and'"),
    ("x or 1", "boolean operator 'or'"),
    ("not x", "unary operator 'not'"),
    ("~x", "unary operator '~'"),
    ("1<x<2", "chained comparison"),
    ("where(1 < x < 2, x, 0)", "chained comparison"),
    ("x > 0", "only allowed as the first argument of where"),
    ("where(x == 0, 1, 2)", "comparison operator '=='"),
    ("where(x, 1, 2)", "must be a comparison"),
    ("x//2", "operator '//'"),
    ("x%2", "operator '%'"),
    ("x@x", "operator '@'"),
    ("x|1", "operator '|'"),
    ("x^1", "operator '^'"),
    ("x<<1", "operator '<<'"),
    ("unknown(x)", "unknown function 'unknown'"),
    ("y", "unknown name 'y'"),
    ("exp", "function 'exp' must be called"),
    ("x(1)", "'x' is not a function"),
    ("exp(x)(1)", "only allowed functions can be called"),
    ("exp(x, x)", "exp() takes 1 argument but 2 were given"),
    ("maximum(x)", "maximum() takes 2 arguments but 1 were given"),
    ("clip(x, 1)", "clip() takes 3 arguments"),
    ("(x, 1)", "tuple"),
    ("[x]", "list display"),
    ("{x}", "set display"),
    ("{x: 1}", "dict display"),
    ("await x", "await"),
    ("1e999", "number '1e999' is too large for float64"),
    ("-1e400", "number '1e400' is too large for float64"),
    ("1" + "0" * 350, "(351 digits) is too large for float64"),
    ("x +* 2", "syntax error at column 4 in 'x +* 2'"),
    ("x\n+ 1", "syntax error at line 2"),
    ("x = 1", "syntax error"),
    ("import os", "syntax error"),
    ("\x00", "null bytes"),
    ("\ud800", "cannot parse"),
    ("", "empty expression"),
    ("   \n\t", "empty expression"),
    ("x" * (MAX_LENGTH + 1), "too long"),
    ("+".join(["x"] * 80), "too large"),
    ("-" * (MAX_DEPTH + 5) + "x", "nested too deeply"),
    ("exp(" * 40 + "x" + ")" * 40, "nested too deeply"),
]


@pytest.mark.parametrize(("text", "fragment"), REJECTIONS, ids=[repr(r[0][:30]) for r in REJECTIONS])
def test_rejections_name_the_problem(text: str, fragment: str) -> None:
    with pytest.raises(ExpressionError) as info:
        parse_expression(text)
    message = str(info.value)
    assert fragment in message
    assert "\n" not in message
    assert isinstance(info.value, ValueError)


def test_unknown_function_lists_allowed_names() -> None:
    with pytest.raises(ExpressionError, match=r"allowed: abs, arcsinh, .*tanh, where$"):
        parse_expression("foo(x)")


def test_limits_are_inclusive() -> None:
    assert len(parse_expression("x" + " " * (MAX_LENGTH - 1)).text) == 1
    nested = "-" * (MAX_DEPTH - 1) + "x"
    parse_expression(nested)
    with pytest.raises(ExpressionError):
        parse_expression("-" + nested)
    assert MAX_NODES == 200


def test_non_string_is_rejected() -> None:
    with pytest.raises(ExpressionError, match="must be a string"):
        parse_expression(1.0)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# Fuzzing
# --------------------------------------------------------------------------------------------

_ALPHABET = "x0123456789.+-*/()<>=, epsintahcowmqrxlgfud_'[]:"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(max_size=60), st.text(alphabet=_ALPHABET, max_size=40)))
def test_arbitrary_text_only_raises_expression_error(text: str) -> None:
    try:
        expr = parse_expression(text)
    except ExpressionError as err:
        assert "\n" not in str(err)
        return
    out = expr(jnp.linspace(-2.0, 2.0, 5))
    assert out.dtype == jnp.float64
    assert out.shape == (5,)


_NUMBERS = st.one_of(
    st.integers(0, 20).map(str),
    st.floats(0.0, 10.0, allow_nan=False).map(lambda v: f"{v:.3g}"),
)
_LEAVES = st.one_of(st.just("x"), st.just("x"), st.sampled_from(["pi", "e"]), _NUMBERS)
_BINARY = ["+", "-", "*", "/", "**"]
_COMPARE = ["<", "<=", ">", ">="]
_CALLABLE = sorted(name for name in FUNCTIONS if name != "where")


@st.composite
def grammar_expressions(draw: st.DrawFn, depth: int = 3) -> str:
    """Random expressions built from the allowed grammar."""
    if depth == 0:
        return draw(_LEAVES)
    kind = draw(st.sampled_from(["leaf", "unary", "binary", "call", "call", "where"]))
    sub = grammar_expressions(depth - 1)
    if kind == "leaf":
        return draw(_LEAVES)
    if kind == "unary":
        return f"{draw(st.sampled_from(['-', '+']))}({draw(sub)})"
    if kind == "binary":
        return f"({draw(sub)}) {draw(st.sampled_from(_BINARY))} ({draw(sub)})"
    if kind == "where":
        cmp = draw(st.sampled_from(_COMPARE))
        return f"where({draw(sub)} {cmp} {draw(sub)}, {draw(sub)}, {draw(sub)})"
    name = draw(st.sampled_from(_CALLABLE))
    args = ", ".join(draw(sub) for _ in range(FUNCTIONS[name].arity))
    return f"{name}({args})"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(grammar_expressions())
def test_grammar_expressions_parse_and_evaluate(text: str) -> None:
    tree = ast.parse(text, mode="eval")
    assume(len(text) <= MAX_LENGTH and sum(1 for _ in ast.walk(tree)) <= MAX_NODES)
    expr = parse_expression(text)
    x = jnp.linspace(-2.5, 2.5, 11)
    out = expr(x)
    assert out.dtype == jnp.float64
    assert out.shape == x.shape
    again = parse_expression(expr.text)
    assert again.text == expr.text
    np.testing.assert_array_equal(np.asarray(again(x)), np.asarray(out))
    for switch in expr.switches:
        assert switch(x).shape == x.shape


_HOSTILE = [
    "__import__('os').system('echo canary')",
    "__import__('os')",
    "open('canary.txt', 'w')",
    "open('canary.txt').read()",
    "eval('1+1')",
    "exec('import os')",
    "compile('1', 'f', 'eval')",
    "x.__class__",
    "().__class__.__bases__[0].__subclasses__()",
    "getattr(x, '__class__')",
    "globals()['__builtins__']",
    "__builtins__",
    "vars()['open']('canary.txt')",
    "print('canary')",
    "breakpoint()",
    "input('canary')",
    "(lambda: __import__('os'))()",
    "[__import__('os') for _ in (1,)]",
    "exp(__import__('subprocess'))",
    "where(x > 0, open('canary.txt'), x)",
    "x[__import__('os')]",
    "f'{__import__(\"os\")}'",
    "exp(x, key=__import__('os'))",
    "(y := __import__('os'))",
    "__import__('os') if x else x",
    "x and __import__('os')",
    "maximum(x, *__import__('os'))",
    "sigmoid.__globals__['__builtins__']",
    "(1).__class__.__mro__[-1].__subclasses__()",
]
_TEMPLATES = [
    "{h}",
    "{a} + {h}",
    "exp({h})",
    "where(x > 0, {h}, {a})",
    "maximum({h}, {a})",
    "-({h})",
    "({h}) * ({a})",
    "clip(x, {h}, 1)",
    "{a}{h}",
    "{h}{a}",
]


class _Canaries:
    """Replacements for dangerous builtins that record every call they see."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[object, ...]]] = []
        self._import = builtins.__import__
        self._compile = getattr(builtins, "compile")  # noqa: B009 - avoid the literal call text

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        for name in ["open", "eval", "exec", "print", "input", "breakpoint", "globals", "vars"]:
            monkeypatch.setattr(builtins, name, self._recorder(name))
        monkeypatch.setattr(builtins, "__import__", self._guarded_import)
        monkeypatch.setattr(builtins, "compile", self._guarded_compile)

    def _recorder(self, name: str) -> Callable[..., None]:
        def record(*args: object, **kwargs: object) -> None:
            self.calls.append((name, args))

        return record

    def _guarded_import(self, name: str, *args: object, **kwargs: object) -> object:
        if name.split(".")[0] in {"os", "subprocess", "sys", "shutil", "socket", "ctypes"}:
            self.calls.append(("__import__", (name,)))
        return self._import(name, *args, **kwargs)

    def _guarded_compile(
        self, source: object, filename: object, mode: str, flags: int = 0, *rest: object, **kwargs: object
    ) -> object:
        # ``ast.parse`` legitimately uses compile() with PyCF_ONLY_AST; anything else is code.
        if not flags & ast.PyCF_ONLY_AST:
            self.calls.append(("compile", (source, mode)))
        return self._compile(source, filename, mode, flags, *rest, **kwargs)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(_HOSTILE), st.sampled_from(_TEMPLATES), grammar_expressions(depth=2), st.integers(0, 400))
def test_canaries_never_run(hostile: str, template: str, allowed: str, cut: int) -> None:
    # Each snippet holds a string, a dunder or a banned name that no allowed name contains,
    # so no combination with allowed text can ever be valid.
    assert any(marker in hostile for marker in ("'", '"', "__", "breakpoint"))
    texts = [
        template.format(h=hostile, a=allowed),
        allowed[: cut % (len(allowed) + 1)] + hostile + allowed[cut % (len(allowed) + 1) :],
    ]
    canaries = _Canaries()
    with pytest.MonkeyPatch.context() as monkeypatch:
        canaries.install(monkeypatch)
        outcomes = []
        for text in texts:
            try:
                parse_expression(text)
                outcomes.append("parsed")
            except ExpressionError:
                outcomes.append("rejected")
    assert canaries.calls == []
    assert outcomes == ["rejected", "rejected"], texts


def test_canaries_detect_calls() -> None:
    canaries = _Canaries()
    with pytest.MonkeyPatch.context() as monkeypatch:
        canaries.install(monkeypatch)
        builtins.open("canary.txt")
        getattr(builtins, "eval")("1")  # noqa: B009 - the canary records instead of running
    assert [name for name, _ in canaries.calls] == ["open", "eval"]


def test_module_source_never_runs_code() -> None:
    source = inspect.getsource(expression_module)
    for needle in ["eval(", "exec(", "compile(", "__import__", "getattr(", "globals(", "importlib"]:
        assert needle not in source
    banned = {
        "eval",
        "exec",
        "compile",
        "__import__",
        "getattr",
        "setattr",
        "globals",
        "locals",
        "vars",
        "open",
    }
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Name):
            assert node.id not in banned
        if isinstance(node, ast.Attribute):
            assert node.attr not in banned


# --------------------------------------------------------------------------------------------
# Kinks
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("maximum(x, 0.1*x)", (0.0,)),
        ("clip(x, -1, 1)", (-1.0, 1.0)),
        ("abs(x - 0.5)", (0.5,)),
        ("tanh(x)", ()),
        ("x * sigmoid(1.702*x)", ()),
        ("relu(x - 2) + heaviside(x + 3)", (-3.0, 2.0)),
        ("where(x > 0, x, 0.2*(exp(x)-1))", (0.0,)),
        ("elu(x + 0.25)", (-0.25,)),
        ("sign(x) * minimum(x, 1.5)", (0.0, 1.5)),
        ("abs(x**2 - 2)", (-math.sqrt(2), math.sqrt(2))),
        ("maximum(x, x)", ()),
        ("abs(x - 100)", ()),
        ("abs(1)", ()),
    ],
)
def test_find_kinks_examples(text: str, expected: tuple[float, ...]) -> None:
    kinks = find_kinks(parse_expression(text))
    assert all(type(k) is float for k in kinks)
    assert len(kinks) == len(expected)
    np.testing.assert_allclose(kinks, expected, rtol=0, atol=1e-14)


def test_find_kinks_exact_values() -> None:
    assert find_kinks(parse_expression("maximum(x, 0.1*x)")) == (0.0,)
    assert find_kinks(parse_expression("clip(x, -1, 1)")) == (-1.0, 1.0)
    assert find_kinks(parse_expression("abs(x-0.5)")) == (0.5,)


def test_find_kinks_custom_interval_and_bad_bounds() -> None:
    expr = parse_expression("abs(x - 100)")
    assert find_kinks(expr, lo=50.0, hi=150.0) == (100.0,)
    for lo, hi in [(1.0, 1.0), (2.0, 1.0), (-math.inf, 0.0), (0.0, math.nan)]:
        with pytest.raises(ValueError, match="lo < hi"):
            find_kinks(expr, lo, hi)


def test_find_kinks_periodic_and_cap() -> None:
    kinks = find_kinks(parse_expression("abs(sin(x))"))
    multiples = np.pi * np.arange(-19, 20)
    np.testing.assert_allclose(kinks, multiples, rtol=0, atol=1e-13)
    many = find_kinks(parse_expression("abs(sin(10*x))"))
    assert len(many) == MAX_KINKS
    assert list(many) == sorted(many)
    # The 64 closest to zero are kept: k*pi/10 for |k| <= 31 and one of k = +-32.
    assert max(abs(k) for k in many) == pytest.approx(3.2 * np.pi, abs=1e-12)
    inner = [k for k in many if abs(k) < 3.15 * np.pi]
    np.testing.assert_allclose(inner, 0.1 * np.pi * np.arange(-31, 32), rtol=0, atol=1e-13)


def test_find_kinks_interval_zero_and_domain_edges() -> None:
    # relu(x) vanishes on x <= 0: the edge of that interval is the kink.
    np.testing.assert_allclose(find_kinks(parse_expression("abs(relu(x))")), (0.0,), atol=1e-14)
    # log(x) is nan for x < 0 (ignored) and changes sign at 1.
    assert find_kinks(parse_expression("abs(log(x))")) == (1.0,)


def test_kinks_are_deduplicated() -> None:
    assert find_kinks(parse_expression("abs(x) + relu(x) + maximum(x, 0) + where(x < 0, 0, x)")) == (0.0,)
