"""The fast float64 sampler of sigprop._normal: exact bits, ulp-accurate transcendentals, the N(0, 1) law."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

import sigprop  # noqa: F401  (float64)
from sigprop import _normal as nm

# Random123's known-answer vectors for threefry2x64, 20 rounds: (counter, key, expected output)
KAT = [
    ((0, 0), (0, 0), (0xC2B6E3A8C2C69865, 0x6F81ED42F350084D)),
    ((2**64 - 1,) * 2, (2**64 - 1,) * 2, (0xE02CB7C4D95D277A, 0xD06633D0893B8B68)),
    (
        (0x243F6A8885A308D3, 0x13198A2E03707344),
        (0xA4093822299F31D0, 0x082EFA98EC4E6C89),
        (0x263C7D30BB0F0AF1, 0x56BE8361D3311526),
    ),
]


@pytest.mark.parametrize(("counter", "key", "expected"), KAT)
def test_threefry2x64_matches_the_random123_known_answers(counter, key, expected):
    u = [jnp.asarray(np.uint64(v)) for v in (*key, *counter)]
    out = jax.jit(nm.threefry2x64)(*u)
    assert tuple(int(v) for v in out) == expected


def _ulps(got, ref):
    return np.abs(got - ref) / np.spacing(np.abs(ref))


def test_log_is_within_one_ulp_of_numpy():
    """fdlibm's log on the sampler's grid k·2⁻⁵² (both ends), random values and the whole exponent range."""
    rng = np.random.default_rng(0)
    k = np.arange(1, 2**18, dtype=np.float64)
    x = np.concatenate(
        [
            1.0 - k * 2.0**-52,  # U₁ near 0: log near 0, relative accuracy matters
            k * 2.0**-52,  # U₁ near 1: the tail of the radius
            rng.random(2**20) + 2.0**-53,
            np.exp(rng.uniform(-700, 700, 2**18)),
            2.0 ** np.arange(-1022, 1024, dtype=np.float64),
            [np.sqrt(0.5), np.sqrt(2.0), np.nextafter(np.sqrt(0.5), 0), np.nextafter(np.sqrt(2.0), 3), 1.0],
        ]
    )
    got = np.asarray(jax.jit(nm.log)(jnp.asarray(x)))
    ref = np.log(x)
    exact = ref == 0
    assert np.all(got[exact] == 0.0)
    assert _ulps(got[~exact], ref[~exact]).max() <= 1.0


def test_sincos_turn_is_exact_to_an_ulp_of_one():
    """sin, cos of the angle the 54 bits encode, against long-double references (absolute error ≤ 2⁻⁵²)."""
    rng = np.random.default_rng(1)
    bits = rng.integers(0, 2**64 - 1, 2**16, dtype=np.uint64, endpoint=True)
    edges = np.array([0, 1, 2, 3, 2**64 - 1, 2**64 - 2, 2**63, 2**63 + 3, 0xFFF, 0x1000, 0x1001], dtype=np.uint64)
    bits = np.concatenate([bits, edges])
    s, c = (np.asarray(v) for v in jax.jit(nm.sincos_turn)(jnp.asarray(bits)))
    mant = (bits >> np.uint64(12)).astype(np.longdouble) * np.longdouble(2.0) ** -52
    quadrant = (bits & np.uint64(3)).astype(np.longdouble)
    pi = np.longdouble("3.14159265358979323846264338327950288")
    theta = (mant - np.longdouble(0.5) + quadrant) * (pi / 2)
    assert np.abs(s - np.sin(theta)).max() <= 2.0**-52
    assert np.abs(c - np.cos(theta)).max() <= 2.0**-52
    np.testing.assert_allclose(s * s + c * c, 1.0, atol=4e-16)


def test_standard_normal_law_and_extremes():
    """KS and moments over 2²¹ draws; an odd count; all-zero and all-one bits give finite extremes."""
    z = np.asarray(jax.jit(lambda k: nm.standard_normal(k, (2**21 + 1,)))(jax.random.key(7)))
    assert z.shape == (2**21 + 1,) and z.dtype == np.float64
    n = z.size
    assert abs(z.mean()) < 4 / np.sqrt(n)
    assert abs(z.var() - 1) < 4 * np.sqrt(2 / n)
    assert abs(stats.kurtosis(z, fisher=False) - 3) < 4 * np.sqrt(24 / n)
    assert stats.kstest(z, "norm").pvalue > 1e-3
    half = (n + 1) // 2  # cos and sin halves of the same pairs are independent
    assert abs(np.corrcoef(z[: n - half], z[half:])[0, 1]) < 4 / np.sqrt(n / 2)
    # the transform at the ends of the bit range: U₁ = 0 gives R = 0, U₁ = 1 − 2⁻⁵² the largest R
    a = jnp.asarray(np.array([0, 2**64 - 1], dtype=np.uint64))
    radius = np.asarray(jnp.sqrt(-2.0 * nm.log(1.0 - nm.unit_uniform(a))))
    np.testing.assert_allclose(radius, [0.0, np.sqrt(-2 * np.log(2.0**-52))], rtol=1e-15)


def test_each_key_draws_its_own_stream_under_vmap():
    """A key's draws do not depend on the other keys in the batch (no custom batching rule needed)."""
    keys = jax.random.split(jax.random.key(3), 5)
    batched = np.asarray(jax.vmap(lambda k: nm.standard_normal(k, (7, 9)))(keys))
    for i in range(5):
        np.testing.assert_array_equal(batched[i], np.asarray(nm.standard_normal(keys[i], (7, 9))))
    bits = np.asarray(jax.vmap(lambda k: nm.bits64(k, (1000,)))(keys[:2]))
    assert not np.array_equal(bits[0], bits[1])
    ones = np.unpackbits(bits.view(np.uint8)).mean()
    assert abs(ones - 0.5) < 4 * 0.5 / np.sqrt(bits.size * 64)


def test_normal_pair_is_the_box_muller_transform_of_its_blocks():
    """The fused, complex-packed normal_pair equals the transform done step by step from block (j, 0).

    The reference runs each stage as its own jitted call (Threefry words, then the radius, then the
    angle's sine and cosine) and assembles the turn bits in numpy, so it shares no fusion with
    normal_pair: packing (R cos Θ, R sin Θ) into one complex128 array and the reciprocal inside the
    logarithm change nothing beyond rounding.
    """
    key, n = jax.random.key(11), 4097
    c, s = (np.asarray(v) for v in jax.jit(lambda k: nm.normal_pair(k, (n,)))(key))
    a, b = (np.asarray(v) for v in jax.jit(lambda k: nm.blocks(k, n))(key))
    radius = np.asarray(jax.jit(lambda w: jnp.sqrt(-2.0 * nm.log(1.0 - nm.unit_uniform(w))))(jnp.asarray(a)))
    bit = lambda w: (w >> np.uint64(11)) & np.uint64(1)  # noqa: E731
    turn = (b & ~np.uint64(0x7FF)) | (bit(a) << np.uint64(1)) | bit(b)
    sin, cos = (np.asarray(v) for v in jax.jit(nm.sincos_turn)(jnp.asarray(turn)))
    for got, ref in ((c, radius * cos), (s, radius * sin)):
        assert np.all(np.abs(got - ref) <= 2 * np.spacing(radius))  # equal here; 2 ulp of R for FMA contraction


def test_normal_pair_law_and_independence_of_the_halves():
    """Both halves (R cos Θ, R sin Θ) are N(0, 1) (moments, KS) and uncorrelated, also in z² (same R)."""
    c, s = (np.asarray(v) for v in jax.jit(lambda k: nm.normal_pair(k, (2, 2**19 + 1)))(jax.random.key(5)))
    assert c.shape == s.shape == (2, 2**19 + 1) and c.dtype == s.dtype == np.float64
    for z in (c.ravel(), s.ravel(), np.concatenate([c.ravel(), s.ravel()])):
        n = z.size
        assert abs(z.mean()) < 4 / np.sqrt(n)
        assert abs(z.var() - 1) < 4 * np.sqrt(2 / n)
        assert abs(stats.kurtosis(z, fisher=False) - 3) < 4 * np.sqrt(24 / n)
        assert stats.kstest(z, "norm").pvalue > 1e-3
    n = c.size
    assert abs(np.corrcoef(c.ravel(), s.ravel())[0, 1]) < 4 / np.sqrt(n)
    assert abs(np.corrcoef(c.ravel() ** 2, s.ravel() ** 2)[0, 1]) < 4 / np.sqrt(n)
    # the same key and shape give the same samples; vmap over keys draws each key's own stream
    keys = jax.random.split(jax.random.key(3), 3)
    bc, bs = (np.asarray(v) for v in jax.vmap(lambda k: nm.normal_pair(k, (4, 5)))(keys))
    for i in range(3):
        one = nm.normal_pair(keys[i], (4, 5))
        np.testing.assert_array_equal(bc[i], np.asarray(one[0]))
        np.testing.assert_array_equal(bs[i], np.asarray(one[1]))
