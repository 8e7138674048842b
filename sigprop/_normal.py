"""Fast float64 standard normals on CPU: Threefry-2x64 bits and a vectorisable Box–Muller transform.

Everything here is plain element-wise ``jax.numpy`` (integer adds, rotations and xors; float
multiplies, one reciprocal and one square root), so XLA fuses a whole draw — counters, bits,
uniforms, logarithm, sine and cosine — into one vectorised loop: no bit array is stored, and no
scalar ``libm`` call runs (a float division must have a single consumer for this, see :func:`log`).
The key is ordinary data, so ``vmap`` over keys draws each key's own stream: a sample depends only
on its key and its index, never on how keys are batched.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

_ROTATIONS = (16, 42, 12, 31, 16, 32, 24, 21)
_PARITY = 0x1BD11BDAA9FC1A22


def _rotl(x: jax.Array, r: int) -> jax.Array:
    return (x << np.uint64(r)) | (x >> np.uint64(64 - r))


def threefry2x64(k0: jax.Array, k1: jax.Array, x0: jax.Array, x1: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Threefry-2x64 with 20 rounds (Salmon et al. 2011, Random123's ``threefry2x64``): 128 bits per block.

    Key (k0, k1) and counter (x0, x1) are uint64. Written out (unrolled) in 64-bit lanes, so XLA
    fuses it with its consumers and vectorises it: half the operations per bit of JAX's 2x32 variant.
    """
    k2 = k0 ^ k1 ^ np.uint64(_PARITY)
    ks = (k0, k1, k2)
    x0 = x0 + k0
    x1 = x1 + k1
    for r in range(20):
        x0 = x0 + x1
        x1 = _rotl(x1, _ROTATIONS[r % 8]) ^ x0
        if r % 4 == 3:  # key injection every four rounds
            i = (r + 1) // 4
            x0 = x0 + ks[i % 3]
            x1 = x1 + ks[(i + 1) % 3] + np.uint64(i)
    return x0, x1


def key_words(key: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Two uint64 key words for :func:`threefry2x64`, drawn from a (split-safe) JAX PRNG key."""
    words = jax.random.bits(key, (2,), jnp.uint64)
    return words[0], words[1]


def blocks(key: jax.Array, n: int, stream: int = 0) -> tuple[jax.Array, jax.Array]:
    """n Threefry blocks (two uint64 words each) with counters (j, stream), j = 0 … n − 1."""
    k0, k1 = key_words(key)
    index = jax.lax.iota(jnp.uint64, n)
    return threefry2x64(k0, k1, index, jnp.full((n,), stream, jnp.uint64))


def bits64(key: jax.Array, shape: tuple[int, ...]) -> jax.Array:
    """Uniform uint64 bits of ``shape``: element j is the first word of block (j, 1)."""
    return blocks(key, math.prod(shape), stream=1)[0].reshape(shape)


# fdlibm's e_log.c: log(1 + f) = f − f²/2 + s (f²/2 + R(s²)), s = f/(2 + f), |error| < 1 ulp
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
_LG = (
    6.666666666666735130e-01,
    3.999999999940941908e-01,
    2.857142874366239149e-01,
    2.222219843214978396e-01,
    1.818357216161805012e-01,
    1.531383769920937332e-01,
    1.479819860511658591e-01,
)


def log(x: jax.Array) -> jax.Array:
    """Natural logarithm of positive, finite, normal float64 ``x`` (fdlibm's algorithm, ≤ 1 ulp).

    x = 2ᵏ (1 + f) with 1 + f ∈ [√2/2, √2) by integer operations on the bits, then the odd series
    of log(1 + f) in s = f/(2 + f) (minimax, |s| ≤ 0.172). Zero, subnormals, negatives, inf and NaN
    are not handled (the callers never pass them).

    s is formed as f · (1/(2 + f)), not f/(2 + f) (two roundings, about an ulp of s, which the
    series damps: the result stays within 1 ulp, see the tests). The reason is XLA's fusion: a
    float division is an "expensive" op that XLA will not duplicate, so one whose result has
    several users (s enters s² and s·(…)) ends its fusion and is written to memory, splitting the
    caller's loop in two (each part redoing the Threefry rounds). The reciprocal has a single user,
    so the whole logarithm fuses into its caller's loop.
    """
    bits = jax.lax.bitcast_convert_type(x, jnp.uint64)
    hx = (bits >> np.uint64(32)).astype(jnp.int32)
    # shift the mantissa's high word so that 1 + f ∈ [0x3fe6a09e…, 0x3ff6a09e…) ≈ [√2/2, √2)
    hx = hx + np.int32(0x3FF00000 - 0x3FE6A09E)
    k = (hx >> np.int32(20)) - np.int32(0x3FF)
    hx = (hx & np.int32(0x000FFFFF)) + np.int32(0x3FE6A09E)
    mantissa = (hx.astype(jnp.uint64) << np.uint64(32)) | (bits & np.uint64(0xFFFFFFFF))
    f = jax.lax.bitcast_convert_type(mantissa, jnp.float64) - 1.0
    hfsq = 0.5 * f * f
    s = f * (1.0 / (2.0 + f))  # one user of the division: fusible (see above)
    z = s * s
    w = z * z
    t1 = w * (_LG[1] + w * (_LG[3] + w * _LG[5]))
    t2 = z * (_LG[0] + w * (_LG[2] + w * (_LG[4] + w * _LG[6])))
    r = t2 + t1
    dk = k.astype(jnp.float64)
    return dk * _LN2_HI - ((hfsq - (s * (hfsq + r) + dk * _LN2_LO)) - f)


_SIN = tuple((-1) ** k / math.factorial(2 * k + 1) for k in range(9))
_COS = tuple((-1) ** k / math.factorial(2 * k) for k in range(10))
"""Taylor coefficients of sin and cos: on |x| ≤ π/4 the truncation error is < 1e-17 (1 ulp)."""


def _polynomial(coeffs: tuple[float, ...], x: jax.Array) -> jax.Array:
    acc = coeffs[-1]
    for a in reversed(coeffs[:-1]):
        acc = acc * x + a
    return acc


def sincos_turn(bits: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(sin 2πu, cos 2πu) for u uniform on the 2⁻⁵⁴ grid of [0, 1), from 54 bits of uint64 ``bits``.

    The 2 low bits pick the quadrant (exact: a rotation by a multiple of 90°), the 52 high bits an
    angle θ ∈ [−π/4, π/4) whose sine and cosine are the short Taylor series above.
    """
    angle = (unit_uniform(bits) - 0.5) * (math.pi / 2)
    a2 = angle * angle
    sin = angle * _polynomial(_SIN, a2)
    cos = _polynomial(_COS, a2)
    quadrant = bits & np.uint64(3)
    odd = (quadrant & np.uint64(1)) == 1  # rotate by 90°: (cos, sin) → (−sin, cos)
    flip = quadrant >= 2  # rotate by 180°
    c = jnp.where(odd, -sin, cos)
    s = jnp.where(odd, cos, sin)
    return jnp.where(flip, -s, s), jnp.where(flip, -c, c)


def unit_uniform(bits: jax.Array) -> jax.Array:
    """U ~ Uniform[0, 1) with 52 random bits: the mantissa of a float in [1, 2), minus 1."""
    return jax.lax.bitcast_convert_type((bits >> np.uint64(12)) | np.uint64(0x3FF0000000000000), jnp.float64) - 1.0


def standard_normal(key: jax.Array, shape: tuple[int, ...]) -> jax.Array:
    """i.i.d. N(0, 1) float64 samples by the Box–Muller transform (exact in distribution).

    Pair p uses Threefry block (p, 0): R = √(−2 log(1 − U₁)) from its first word, Θ = 2πU₂ from its
    second, and gives R cos Θ (element p) and R sin Θ (element ⌈n/2⌉ + p), two independent
    standard normals. The two halves are one element-wise expression over a (2, ⌈n/2⌉) array, so
    XLA keeps it a single vectorised loop; each element redoes its pair's block and logarithm,
    which on CPU is cheaper than the non-vectorised concatenation of two materialised halves.
    52-bit uniforms cut the tail at |z| ≤ 8.5 (probability < 3e-16).
    """
    size = math.prod(shape)
    half = -(-size // 2)
    a, b = blocks(key, half)
    radius = jnp.sqrt(-2.0 * log(1.0 - unit_uniform(a)))
    sin, cos = sincos_turn(b)
    which = jax.lax.broadcasted_iota(jnp.int32, (2, half), 0)
    pair = (radius * jnp.where(which == 0, cos, sin)).reshape(-1)
    return pair[:size].reshape(shape)


def normal_pair(key: jax.Array, shape: tuple[int, ...]) -> tuple[jax.Array, jax.Array]:
    """Two independent arrays of i.i.d. N(0, 1) float64 samples of ``shape``: (R cos Θ, R sin Θ).

    Element j of both comes from Threefry block (j, 0) = (a, b) by the Box–Muller transform
    (Box & Muller 1958): U₁ from a's 52 high bits, R = √(−2 log(1 − U₁)); Θ = 2πU₂ with U₂ on the
    2⁻⁵⁴ grid, its 52 high bits from b's and its quadrant from bit 11 of a and of b (bits no other
    part uses). Callers that only sum over the elements (the Gram engine's statistics) never need
    the two halves interleaved.

    One loop computes everything per pair — the block, the logarithm, the square root, the sine and
    the cosine — and stores (R cos Θ, R sin Θ) as one complex128 array, which the two outputs
    then read (:func:`_materialised`). XLA's CPU backend has no multi-output fusion: two outputs
    computed from one block would each redo the whole chain.
    """
    k0, k1 = key_words(key)
    n = math.prod(shape)
    a, b = threefry2x64(k0, k1, jax.lax.iota(jnp.uint64, n), jnp.zeros((n,), jnp.uint64))
    one = np.uint64(1)
    radius = jnp.sqrt(-2.0 * log(1.0 - unit_uniform(a)))
    turn = (b & ~np.uint64(0x7FF)) | (((a >> np.uint64(11)) & one) << one) | ((b >> np.uint64(11)) & one)
    sin, cos = sincos_turn(turn)
    both = _materialised(jax.lax.complex(radius * cos, radius * sin), k0)
    return jnp.real(both).reshape(shape), jnp.imag(both).reshape(shape)


def _materialised(z: jax.Array, k0: jax.Array) -> jax.Array:
    """``z`` (complex128) behind a complex division by a 1.0 that the compiler cannot fold.

    A division is an "expensive" op that XLA does not duplicate into several consumers, so the loop
    that computes ``z`` runs once and its result is stored; its consumers (real and imaginary
    parts) read it. (``lax.optimization_barrier`` does not do this: XLA's CPU pipeline removes it
    before fusion.) Dividing by exactly 1.0 is exact.
    """
    one = 1.0 + 0.0 * (k0 >> np.uint64(11)).astype(jnp.float64)
    return z / one
