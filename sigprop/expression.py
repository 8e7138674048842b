"""Safe parsing of user-supplied nonlinearities written as expressions in ``x``.

A user types a custom activation function, for example::

    x * sigmoid(1.702*x)
    maximum(x, 0.1*x)
    where(x > 0, x, 0.2*(exp(x) - 1))
    clip(x, -1, 1)

and :func:`parse_expression` turns it into a pure, elementwise ``jax.numpy``
function. The text is parsed with :mod:`ast` and then *translated* by walking
the syntax tree and building a tree of closures over ``jax.numpy`` primitives.
Python code is never generated or run: every node type has to be on an explicit
allow-list, every name has to be ``x``, a known constant or a known function,
and everything else is rejected with an :class:`ExpressionError`.

Grammar (the allow-list):

* numbers: ``int`` and ``float`` literals (finite); no strings, bytes, complex
  numbers, ``True``/``False``/``None``, lists, tuples, ...;
* the variable ``x`` and the constants ``pi`` and ``e``;
* unary ``+ -``, binary ``+ - * / **`` and parentheses;
* a single comparison ``< <= > >=``, allowed only as the first argument of
  ``where``;
* calls ``f(a, ...)`` of the functions in :data:`FUNCTIONS` with positional
  arguments and the right number of them.

Limits: at most :data:`MAX_LENGTH` characters, :data:`MAX_NODES` syntax-tree
nodes (as counted by :func:`ast.walk`, operators and contexts included) and an
expression nesting depth of :data:`MAX_DEPTH`.

Semantics worth knowing:

* ``heaviside(a)`` is ``0`` for ``a < 0`` and ``1`` for ``a >= 0``;
  ``sign(0)`` is ``0``; ``gelu`` is the exact ``x * Phi(x)``; ``elu`` has
  ``alpha = 1``; ``swish`` is ``silu``, i.e. ``x * sigmoid(x)``.
* Expressions are *not* rejected because they produce ``inf`` or ``nan`` at
  some inputs (``log(x)``, ``1/x``, ``sqrt(x)``); handling such values is the
  caller's responsibility. Note also that ``where`` evaluates both branches,
  so a ``nan`` in the branch that is not taken can still poison gradients.
* A constant expression such as ``0.5`` is broadcast to the shape of ``x``.

Non-smooth points: every construct that can make the function non-smooth
(``abs``, ``sign``, ``relu``, ``heaviside``, ``elu``, ``maximum``,
``minimum``, ``clip`` and ``where``) contributes a *switching function* whose
real zeros are candidate kinks; :func:`find_kinks` locates them numerically.
"""

from __future__ import annotations

import ast
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import jax.scipy.special as jsp_special
import numpy as np
from jax import lax

from sigprop.errors import SigpropError

jax.config.update("jax_enable_x64", True)  # sigprop computes in float64

Fn = Callable[[jax.Array], jax.Array]
"""An elementwise function of a ``jax`` array."""

MAX_LENGTH = 400
"""Maximum number of characters of an expression (after stripping)."""

MAX_NODES = 200
"""Maximum number of nodes in the syntax tree (as counted by :func:`ast.walk`)."""

MAX_DEPTH = 30
"""Maximum nesting depth of (sub)expressions."""

MAX_KINKS = 64
"""Maximum number of kinks returned by :func:`find_kinks`."""

_MAX_INTEGER_POWER = 1024
_VALIDATION_GRID = (-3.0, 3.0, 7)
_KINK_SAMPLES = 20001
_BISECTION_STEPS = 100
_DEDUP_TOL = 1e-9


class ExpressionError(SigpropError):
    """Raised when an expression is malformed, unsafe or cannot be evaluated."""


@dataclass(frozen=True)
class Expression:
    """A parsed elementwise nonlinearity.

    Attributes:
        text: The normalised source text (as produced by :func:`ast.unparse`).
        fn: The elementwise function. It accepts an array ``x`` and returns a
            float64 array of the same shape; it is a pure ``jax`` function and
            works under ``jax.jit``, ``jax.vmap``, ``jax.grad`` and ``jax.jvp``.
        switches: Switching functions of ``x`` (float64, shape of ``x``) whose
            real zeros are the candidate kinks of ``fn``.
    """

    text: str
    fn: Fn
    switches: tuple[Fn, ...] = ()

    def __call__(self, x: jax.Array) -> jax.Array:
        """Evaluate the nonlinearity elementwise.

        Args:
            x: Input array (any real dtype, any shape).

        Returns:
            ``fn(x)`` as a float64 array of ``x``'s shape.
        """
        return self.fn(x)


@dataclass(frozen=True)
class _Function:
    """An allowed function: its arity, implementation and switch builder."""

    arity: int
    impl: Callable[..., jax.Array]
    switches: Callable[[Sequence[Fn]], tuple[Fn, ...]]


def _no_switches(args: Sequence[Fn]) -> tuple[Fn, ...]:
    """Switch builder for smooth functions."""
    del args
    return ()


def _first_argument(args: Sequence[Fn]) -> tuple[Fn, ...]:
    """Switch builder for functions with a kink where their argument is zero."""
    return (args[0],)


def _difference(a: Fn, b: Fn) -> Fn:
    """Return the closure ``x -> a(x) - b(x)``."""
    return lambda x: jnp.subtract(a(x), b(x))


def _argument_difference(args: Sequence[Fn]) -> tuple[Fn, ...]:
    """Switch builder for ``maximum(a, b)`` and ``minimum(a, b)``: ``a - b``."""
    return (_difference(args[0], args[1]),)


def _clip_switches(args: Sequence[Fn]) -> tuple[Fn, ...]:
    """Switch builder for ``clip(a, lo, hi)``: ``a - lo`` and ``a - hi``."""
    return (_difference(args[0], args[1]), _difference(args[0], args[2]))


def _heaviside(a: jax.Array) -> jax.Array:
    """Heaviside step: ``0`` for ``a < 0`` and ``1`` for ``a >= 0``."""
    return jnp.where(a >= 0, 1.0, 0.0)


def _clip(a: jax.Array, lo: jax.Array, hi: jax.Array) -> jax.Array:
    """``minimum(maximum(a, lo), hi)``, differentiable in all arguments."""
    return jnp.minimum(jnp.maximum(a, lo), hi)


def _gelu(a: jax.Array) -> jax.Array:
    """Exact GELU ``a * Phi(a)``."""
    return jax.nn.gelu(a, approximate=False)


def _smooth(impl: Callable[..., jax.Array], arity: int = 1) -> _Function:
    """A smooth allowed function (no switching functions)."""
    return _Function(arity, impl, _no_switches)


def _kinked(impl: Callable[..., jax.Array]) -> _Function:
    """A one-argument function with a kink where its argument vanishes."""
    return _Function(1, impl, _first_argument)


FUNCTIONS: dict[str, _Function] = {
    "abs": _kinked(jnp.abs),
    "arcsinh": _smooth(jnp.arcsinh),
    "arctan": _smooth(jnp.arctan),
    "clip": _Function(3, _clip, _clip_switches),
    "cos": _smooth(jnp.cos),
    "cosh": _smooth(jnp.cosh),
    "cube": _smooth(lambda a: lax.integer_pow(a, 3)),
    "elu": _kinked(jax.nn.elu),
    "erf": _smooth(jsp_special.erf),
    "erfc": _smooth(jsp_special.erfc),
    "exp": _smooth(jnp.exp),
    "expm1": _smooth(jnp.expm1),
    "gelu": _smooth(_gelu),
    "heaviside": _kinked(_heaviside),
    "log": _smooth(jnp.log),
    "log1p": _smooth(jnp.log1p),
    "maximum": _Function(2, jnp.maximum, _argument_difference),
    "minimum": _Function(2, jnp.minimum, _argument_difference),
    "relu": _kinked(jax.nn.relu),
    "sigmoid": _smooth(jax.nn.sigmoid),
    "sign": _kinked(jnp.sign),
    "silu": _smooth(jax.nn.silu),
    "sin": _smooth(jnp.sin),
    "sinh": _smooth(jnp.sinh),
    "softplus": _smooth(jax.nn.softplus),
    "sqrt": _smooth(jnp.sqrt),
    "square": _smooth(lambda a: lax.integer_pow(a, 2)),
    "swish": _smooth(jax.nn.silu),
    "tan": _smooth(jnp.tan),
    "tanh": _smooth(jnp.tanh),
    # ``where`` is translated specially (its first argument is a comparison).
    "where": _Function(3, jnp.where, _no_switches),
}
"""Allowed functions by name."""

CONSTANTS: dict[str, float] = {"pi": math.pi, "e": math.e}
"""Allowed named constants."""

VARIABLE = "x"
"""The name of the independent variable."""

_BINARY_OPS: dict[type[ast.operator], Callable[[jax.Array, jax.Array], jax.Array]] = {
    ast.Add: jnp.add,
    ast.Sub: jnp.subtract,
    ast.Mult: jnp.multiply,
    ast.Div: jnp.true_divide,
    ast.Pow: jnp.power,
}

_UNARY_OPS: dict[type[ast.unaryop], Callable[[jax.Array], jax.Array]] = {
    ast.UAdd: jnp.positive,
    ast.USub: jnp.negative,
}

_COMPARISONS: dict[type[ast.cmpop], Callable[[jax.Array, jax.Array], jax.Array]] = {
    ast.Lt: jnp.less,
    ast.LtE: jnp.less_equal,
    ast.Gt: jnp.greater,
    ast.GtE: jnp.greater_equal,
}

_OPERATOR_SYMBOLS: dict[type[ast.AST], str] = {
    ast.FloorDiv: "//",
    ast.Mod: "%",
    ast.MatMult: "@",
    ast.BitOr: "|",
    ast.BitXor: "^",
    ast.BitAnd: "&",
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.Not: "not",
    ast.Invert: "~",
    ast.And: "and",
    ast.Or: "or",
    ast.Eq: "==",
    ast.NotEq: "!=",
    ast.Is: "is",
    ast.IsNot: "is not",
    ast.In: "in",
    ast.NotIn: "not in",
}

_CONSTRUCT_NAMES: dict[type[ast.AST], str] = {
    ast.Attribute: "attribute access",
    ast.Subscript: "subscripting",
    ast.Slice: "slicing",
    ast.Lambda: "lambda",
    ast.ListComp: "list comprehension",
    ast.SetComp: "set comprehension",
    ast.DictComp: "dict comprehension",
    ast.GeneratorExp: "generator expression",
    ast.NamedExpr: "assignment expression (walrus ':=')",
    ast.Starred: "starred expression",
    ast.JoinedStr: "f-string",
    ast.FormattedValue: "f-string",
    ast.IfExp: "conditional expression (if/else; use where(cond, a, b))",
    ast.List: "list display",
    ast.Tuple: "tuple",
    ast.Set: "set display",
    ast.Dict: "dict display",
    ast.Await: "await",
    ast.Yield: "yield",
    ast.YieldFrom: "yield from",
}


def _fail(message: str) -> ExpressionError:
    """Build an :class:`ExpressionError` whose message is a single line."""
    return ExpressionError(" ".join(message.splitlines()))


def _shown(text: str, limit: int = 40) -> str:
    """Return ``repr(text)``, shortened to about ``limit`` characters for messages."""
    return repr(text) if len(text) <= limit else repr(text[: limit - 3]) + "..."


def _source(node: ast.AST) -> str:
    """Return a short normalised source snippet for ``node`` (for messages)."""
    try:
        snippet = ast.unparse(node)
    except Exception:  # only used to decorate a message
        snippet = type(node).__name__
    return snippet if len(snippet) <= 40 else snippet[:37] + "..."


def _parse_tree(text: str) -> ast.Expression:
    """Parse ``text`` in ``eval`` mode into an abstract syntax tree.

    Args:
        text: The stripped expression text.

    Returns:
        The syntax tree.

    Raises:
        ExpressionError: On syntax errors and on text the parser cannot handle.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return ast.parse(text, mode="eval")
    except SyntaxError as err:
        where = f"column {err.offset}" if err.offset else "unknown position"
        if err.lineno and err.lineno > 1:
            where = f"line {err.lineno}, {where}"
        raise _fail(f"syntax error at {where} in {_shown(text)}: {err.msg}") from None
    except (ValueError, RecursionError, MemoryError) as err:
        raise _fail(f"cannot parse {_shown(text)}: {err}") from None


def _expression_depth(tree: ast.AST) -> int:
    """Return the maximum nesting depth of expression nodes in ``tree``.

    Iterative, so that pathological trees cannot exhaust the Python stack.
    """
    deepest = 0
    stack: list[tuple[ast.AST, int]] = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, ast.expr):
            depth += 1
            deepest = max(deepest, depth)
        stack.extend((child, depth) for child in ast.iter_child_nodes(node))
    return deepest


def _check_limits(text: str, tree: ast.Expression) -> None:
    """Enforce :data:`MAX_NODES` and :data:`MAX_DEPTH`.

    Raises:
        ExpressionError: If a limit is exceeded.
    """
    nodes = sum(1 for _ in ast.walk(tree))
    if nodes > MAX_NODES:
        raise _fail(f"expression too large: {nodes} syntax nodes (limit {MAX_NODES}) in {_shown(text)}")
    depth = _expression_depth(tree)
    if depth > MAX_DEPTH:
        raise _fail(f"expression nested too deeply: depth {depth} (limit {MAX_DEPTH}) in {_shown(text)}")


def _literal(value: float) -> Fn:
    """Closure returning the float64 constant ``value``."""
    return lambda x: jnp.asarray(value, dtype=jnp.float64)


def _variable(x: jax.Array) -> jax.Array:
    """The identity closure for the variable ``x``."""
    return x


def _integer_exponent(node: ast.expr) -> int | None:
    """Return ``n`` if ``node`` is a literal integer ``n``, ``+n`` or ``-n``.

    Only moderate exponents (``|n| <= 1024``) are reported, so that they can be
    evaluated exactly by repeated squaring with :func:`jax.lax.integer_pow`.
    """
    sign = 1
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.UAdd, ast.USub)):
        sign = -1 if isinstance(node.op, ast.USub) else 1
        node = node.operand
    if isinstance(node, ast.Constant) and type(node.value) is int:
        value = sign * node.value
        if abs(value) <= _MAX_INTEGER_POWER:
            return value
    return None


def _integer_power(base: Fn, exponent: int) -> Fn:
    """Closure ``x -> base(x) ** exponent`` for a fixed integer exponent."""
    return lambda x: lax.integer_pow(base(x), exponent)


def _unary(op: Callable[[jax.Array], jax.Array], operand: Fn) -> Fn:
    """Closure applying a unary operator."""
    return lambda x: op(operand(x))


def _binary(op: Callable[[jax.Array, jax.Array], jax.Array], left: Fn, right: Fn) -> Fn:
    """Closure applying a binary operator (or comparison)."""
    return lambda x: op(left(x), right(x))


def _call(impl: Callable[..., jax.Array], args: Sequence[Fn]) -> Fn:
    """Closure applying an allowed function to translated arguments."""
    arguments = tuple(args)
    return lambda x: impl(*(arg(x) for arg in arguments))


class _Translator:
    """Translate an allow-listed syntax tree into a tree of closures.

    Each ``_visit_*`` method checks one node type and returns a closure of
    ``x``. Switching functions found on the way are collected in
    :attr:`switches`.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.switches: list[Fn] = []

    def translate(self, node: ast.expr) -> Fn:
        """Translate a numeric (sub)expression.

        Raises:
            ExpressionError: If the node (or any descendant) is not allowed.
        """
        visitor = {
            ast.Constant: self._visit_constant,
            ast.Name: self._visit_name,
            ast.UnaryOp: self._visit_unary,
            ast.BinOp: self._visit_binary,
            ast.Call: self._visit_call,
        }.get(type(node))
        if visitor is None:
            raise self._disallowed(node)
        return visitor(node)

    def _disallowed(self, node: ast.AST) -> ExpressionError:
        """Build the error for a node type that is not on the allow-list."""
        snippet = _source(node)
        if isinstance(node, ast.Compare) and len(node.ops) > 1:
            return _fail(f"chained comparison is not allowed ('{snippet}')")
        if isinstance(node, ast.Compare):
            return _fail(
                f"comparison '{snippet}' is only allowed as the first argument of "
                f"where(cond, a, b) in {_shown(self.text)}"
            )
        if isinstance(node, ast.BoolOp):
            symbol = _OPERATOR_SYMBOLS[type(node.op)]
            return _fail(f"boolean operator '{symbol}' is not allowed ('{snippet}')")
        construct = _CONSTRUCT_NAMES.get(type(node), f"{type(node).__name__} expression")
        return _fail(f"{construct} is not allowed ('{snippet}')")

    def _visit_constant(self, node: ast.Constant) -> Fn:
        """Numbers: ``int`` and finite ``float`` literals only.

        Messages quote the literal as typed (``1e400``, not its float ``inf``), at most 40 characters.
        """
        value = node.value
        typed = _shown(ast.get_source_segment(self.text, node) or _source(node), 40)
        if type(value) not in (int, float):
            kind = {str: "string", bytes: "bytes", complex: "complex number", bool: "boolean"}.get(type(value))
            kind = kind or ("None" if value is None else type(value).__name__)
            raise _fail(f"{kind} literal {typed} is not allowed; only real numbers (int or float)")
        try:
            number = float(value)
        except OverflowError:
            digits = len(str(abs(value)))
            raise _fail(f"integer literal {typed} ({digits} digits) is too large for float64 (at most ~1.8e308)") \
                from None
        if not math.isfinite(number):
            raise _fail(f"number {typed} is too large for float64 (at most ~1.8e308)")
        return _literal(number)

    def _visit_name(self, node: ast.Name) -> Fn:
        """Names: the variable ``x`` and the constants ``pi`` and ``e``."""
        if node.id == VARIABLE:
            return _variable
        if node.id in CONSTANTS:
            return _literal(CONSTANTS[node.id])
        if node.id in FUNCTIONS:
            raise _fail(f"function '{node.id}' must be called, e.g. '{node.id}(x)'")
        allowed = ", ".join([VARIABLE, *sorted(CONSTANTS)])
        raise _fail(f"unknown name {_shown(node.id)} in {_shown(self.text)}; allowed names: {allowed}")

    def _visit_unary(self, node: ast.UnaryOp) -> Fn:
        """Unary ``+`` and ``-``."""
        op = _UNARY_OPS.get(type(node.op))
        if op is None:
            symbol = _OPERATOR_SYMBOLS.get(type(node.op), type(node.op).__name__)
            raise _fail(f"unary operator '{symbol}' is not allowed ('{_source(node)}')")
        return _unary(op, self.translate(node.operand))

    def _visit_binary(self, node: ast.BinOp) -> Fn:
        """Binary ``+ - * / **``; small integer powers use ``integer_pow``."""
        op = _BINARY_OPS.get(type(node.op))
        if op is None:
            symbol = _OPERATOR_SYMBOLS.get(type(node.op), type(node.op).__name__)
            raise _fail(f"operator '{symbol}' is not allowed ('{_source(node)}')")
        left = self.translate(node.left)
        right = self.translate(node.right)
        exponent = _integer_exponent(node.right) if isinstance(node.op, ast.Pow) else None
        if exponent is not None:
            return _integer_power(left, exponent)
        return _binary(op, left, right)

    def _visit_call(self, node: ast.Call) -> Fn:
        """Calls of allowed functions with the right number of positional args."""
        name = self._function_name(node)
        function = FUNCTIONS[name]
        if node.keywords:
            keyword = node.keywords[0]
            shown = f"{keyword.arg}=..." if keyword.arg else "**..."
            raise _fail(f"keyword argument ('{shown}') is not allowed in {_source(node)!r}")
        for arg in node.args:
            if isinstance(arg, ast.Starred):
                raise _fail(f"starred argument ('{_source(arg)}') is not allowed")
        if len(node.args) != function.arity:
            plural = "s" if function.arity != 1 else ""
            raise _fail(
                f"{name}() takes {function.arity} argument{plural} but {len(node.args)} were given in {_source(node)!r}"
            )
        if name == "where":
            return self._visit_where(node)
        args = [self.translate(arg) for arg in node.args]
        self.switches.extend(function.switches(args))
        return _call(function.impl, args)

    def _function_name(self, node: ast.Call) -> str:
        """Return the name of the called function after checking it is allowed."""
        if not isinstance(node.func, ast.Name):
            raise _fail(
                f"only allowed functions can be called, by plain name; not '{_source(node.func)}' in {_source(node)!r}"
            )
        name = node.func.id
        if name == VARIABLE or name in CONSTANTS:
            raise _fail(f"'{name}' is not a function and cannot be called ('{_source(node)}')")
        if name not in FUNCTIONS:
            allowed = ", ".join(sorted(FUNCTIONS))
            raise _fail(f"unknown function {_shown(name)} in {_shown(self.text)}; allowed: {allowed}")
        return name

    def _visit_where(self, node: ast.Call) -> Fn:
        """``where(l OP r, a, b)``; records the switch ``l - r``."""
        condition = node.args[0]
        if not isinstance(condition, ast.Compare):
            raise _fail(
                f"the first argument of where() must be a comparison such as 'x > 0', not {_source(condition)!r}"
            )
        if len(condition.ops) != 1:
            raise _fail(f"chained comparison is not allowed ('{_source(condition)}')")
        compare = _COMPARISONS.get(type(condition.ops[0]))
        if compare is None:
            symbol = _OPERATOR_SYMBOLS.get(type(condition.ops[0]), "?")
            raise _fail(f"comparison operator '{symbol}' is not allowed ('{_source(condition)}'); use <, <=, > or >=")
        left = self.translate(condition.left)
        right = self.translate(condition.comparators[0])
        self.switches.append(_difference(left, right))
        if_true = self.translate(node.args[1])
        if_false = self.translate(node.args[2])
        return _call(jnp.where, [_binary(compare, left, right), if_true, if_false])


def _as_output(inner: Fn) -> Fn:
    """Wrap a closure so it maps ``x`` to a float64 array of ``x``'s shape."""

    def fn(x: jax.Array) -> jax.Array:
        x = jnp.asarray(x, dtype=jnp.float64)
        value = jnp.asarray(inner(x), dtype=jnp.float64)
        return jnp.broadcast_to(value, jnp.shape(x))

    return fn


def _validate(text: str, fn: Fn) -> None:
    """Evaluate ``fn`` on a small grid and check the result's dtype and shape.

    Raises:
        ExpressionError: If evaluation fails or the result is not a real float
            array of the grid's shape. ``inf``/``nan`` values are accepted.
    """
    grid = jnp.linspace(*_VALIDATION_GRID)
    try:
        out = fn(grid)
    except Exception as err:  # any failure means a bad expression
        raise _fail(f"cannot evaluate {_shown(text)}: {type(err).__name__}: {_shown(str(err), 120)[1:-1]}") from None
    if out.shape != grid.shape or not jnp.issubdtype(out.dtype, jnp.floating):
        raise _fail(f"{_shown(text)} does not give a real float array of x's shape")


def parse_expression(text: str) -> Expression:
    """Parse a nonlinearity written as an expression in ``x``.

    Args:
        text: Expression text, e.g. ``"x * sigmoid(1.702*x)"``. Surrounding
            whitespace is ignored.

    Returns:
        The parsed :class:`Expression`; ``text`` is normalised with
        :func:`ast.unparse`.

    Raises:
        ExpressionError: If the text is empty, too long, too large or too
            deeply nested, is not valid syntax, uses anything outside the
            allow-list, or cannot be evaluated.
    """
    if not isinstance(text, str):
        raise _fail(f"expression must be a string, not {type(text).__name__}")
    stripped = text.strip()
    if not stripped:
        raise _fail("empty expression")
    if len(stripped) > MAX_LENGTH:
        raise _fail(f"expression too long: {len(stripped)} characters (limit {MAX_LENGTH})")
    tree = _parse_tree(stripped)
    _check_limits(stripped, tree)
    translator = _Translator(stripped)
    body = translator.translate(tree.body)
    fn = _as_output(body)
    _validate(stripped, fn)
    switches = tuple(_as_output(switch) for switch in translator.switches)
    return Expression(text=ast.unparse(tree), fn=fn, switches=switches)


def _sign_class(values: np.ndarray) -> np.ndarray:
    """Map values to ``-1``, ``0``, ``1`` and ``nan`` (for ``nan`` input)."""
    return np.sign(values)


def _bracket_transitions(grid: np.ndarray, classes: np.ndarray) -> tuple[np.ndarray, ...]:
    """Find consecutive samples whose sign classes differ (``nan`` ignored).

    Returns:
        Left ends, right ends and the sign class at the left ends.
    """
    left, right = classes[:-1], classes[1:]
    change = np.isfinite(left) & np.isfinite(right) & (left != right)
    index = np.nonzero(change)[0]
    return grid[index], grid[index + 1], left[index]


def _evaluate_switch(switch: Fn, points: np.ndarray) -> np.ndarray:
    """Evaluate a switching function on host points, returning a numpy array."""
    return np.asarray(switch(jnp.asarray(points, dtype=jnp.float64)))


def _bisect(switch: Fn, a: np.ndarray, b: np.ndarray, class_a: np.ndarray) -> np.ndarray:
    """Vectorised bisection to the boundary of the region of sign ``class_a``.

    Runs until the brackets are adjacent floating point numbers (or a fixed
    number of steps), then returns the end at which the switch is exactly zero
    when there is one, otherwise the midpoint.
    """
    for _ in range(_BISECTION_STEPS):
        mid = 0.5 * (a + b)
        if not np.any((mid > a) & (mid < b)):
            break
        same = _sign_class(_evaluate_switch(switch, mid)) == class_a
        a = np.where(same, mid, a)
        b = np.where(same, b, mid)
    at_a = _evaluate_switch(switch, a) == 0
    at_b = _evaluate_switch(switch, b) == 0
    return np.where(at_b, b, np.where(at_a, a, 0.5 * (a + b)))


def _switch_roots(switch: Fn, grid: np.ndarray) -> np.ndarray:
    """Return the (unsorted, possibly repeated) sign changes of one switch."""
    classes = _sign_class(_evaluate_switch(switch, grid))
    a, b, class_a = _bracket_transitions(grid, classes)
    if a.size == 0:
        return a
    return _bisect(switch, a, b, class_a)


def _deduplicate(roots: np.ndarray, tol: float) -> list[float]:
    """Sort ``roots`` and merge those closer than ``tol`` to their predecessor."""
    unique: list[float] = []
    for root in np.sort(roots):
        if not unique or root - unique[-1] > tol:
            unique.append(float(root) + 0.0)  # ``+ 0.0`` turns -0.0 into 0.0
    return unique


def find_kinks(expr: Expression, lo: float = -60.0, hi: float = 60.0) -> tuple[float, ...]:
    """Locate the candidate kinks of ``expr`` in ``[lo, hi]``.

    Every switching function is sampled on 20001 equispaced points; each pair
    of neighbouring samples with different signs (``-``, ``0``, ``+``; samples
    that are ``nan`` are ignored) is refined by bisection to floating point
    resolution (about ``1e-14`` absolute on the default interval). Roots closer
    than ``1e-9`` are merged.

    Caveats:
        * Candidates are a superset of the true kinks: a switch inside a
          ``where`` branch that is never taken still contributes its zeros.
        * A switch that is identically zero has no sign change and contributes
          nothing; one that vanishes on a whole interval contributes the
          interval's end points. Poles where a switch changes sign (``1/x``)
          are reported like zeros. Zeros where the switch touches zero without
          changing sign are found only if they hit a sample point.
        * At most :data:`MAX_KINKS` (64) values are returned: when there are
          more (e.g. ``abs(sin(10*x))``), the 64 closest to zero are kept.

    Args:
        expr: A parsed expression.
        lo: Left end of the search interval.
        hi: Right end of the search interval.

    Returns:
        The sorted kink locations as Python floats.

    Raises:
        ValueError: If ``lo`` and ``hi`` are not finite with ``lo < hi``.
    """
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ValueError(f"need finite lo < hi, got lo={lo!r}, hi={hi!r}")
    if not expr.switches:
        return ()
    grid = np.linspace(float(lo), float(hi), _KINK_SAMPLES)
    roots = np.concatenate([_switch_roots(switch, grid) for switch in expr.switches])
    kinks = _deduplicate(roots, _DEDUP_TOL)
    if len(kinks) > MAX_KINKS:
        kinks = sorted(sorted(kinks, key=abs)[:MAX_KINKS])
    return tuple(kinks)
