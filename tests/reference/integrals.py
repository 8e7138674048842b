"""Independent adaptive-quadrature references for mean-field signal propagation.

Conventions (Poole et al. 2016, Schoenholz et al. 2017 section 5):

* z, z1, z2 are independent standard normals, Dz their measure;
* F(q)  = E[phi(sqrt(q) z)^2],  G(q) = E[phi'(sqrt(q) z)^2];
* dF/dq = E[phi(sqrt(q) z) phi'(sqrt(q) z) z] / sqrt(q)   (valid for kinks);
* length map V(q) = (sigma_w^2 / rho) F(q) + sigma_b^2, q* its stable fixed
  point, slope_q = V'(q*) = (sigma_w^2 / rho) dF/dq(q*);
* chi_1 = sigma_w^2 G(q*)   (no 1/rho);
* u1 = sqrt(qa) z1, u2 = sqrt(qb) (c z1 + sqrt(1 - c^2) z2),
  K(qa, qb, c) = E[phi(u1) phi(u2)],  Kc(qa, qb, c) = E[phi'(u1) phi'(u2)];
* correlation map C(c) = (sigma_w^2 K(q*, q*, c) + sigma_b^2) / q*, c* its
  stable fixed point in [0, 1] (limit of iterating C from c = 0);
* chi_c = sigma_w^2 Kc(q*, q*, c*), xi_q = -1/log(slope_q), xi_c = -1/log(chi_c).

Two independent families of integrators are provided:

* ``*_mp``: 30-digit ``mpmath.quad`` (tanh-sinh) for the one-dimensional
  integrals F, dF/dq, G, E[phi] (and everything derived from them: q*, chi_1,
  slope_q, the tanh critical line);
* ``*_quad``: ``scipy.integrate.quad`` (QUADPACK QAGP) in double precision,
  nested for the two-dimensional K, Kc.  Two different parametrisations of
  the same Gaussian integral are available (``method="A"``: the u1/u2
  definition above, outer z1 / inner z2; ``method="B"``: the symmetric
  rotation u1 = sqrt(qa)(a z1 + b z2), u2 = sqrt(qb)(a z1 - b z2) with
  a = sqrt((1+c)/2), b = sqrt((1-c)/2)), with different truncations and
  different fixed breakpoints, so their agreement is a genuine error estimate;
* ``K_mp`` / ``c_star_newton_mp``: nested mpmath Gauss-Legendre at 20 (or 24)
  digits for K, Kc, used to polish c* and chi_c beyond double precision
  (c* is ill-conditioned near the order-to-chaos transition: its error is the
  noise of C divided by 1 - chi_c).

Truncation.  The double-precision integrators integrate z over [-L, L] with
L = 14 (method A) or L = 13 (method B).  P(|z| > 13) = erfc(13/sqrt 2) ~ 1.2e-38;
every phi used here satisfies |phi(x)| <= 2 + 2|x| and |phi'(x)| <= 2, so with
q <= ~100 the neglected tails are below 1e-33 -- far below double precision.
The mpmath integrals use L = 20 (P(|z| > 20) ~ 5.5e-89, below 30 digits).

Kinks of phi (relu/leaky_relu/elu/selu at 0, hard_tanh at +-1) become
breakpoints: k/sqrt(q) in z (1-D and outer integrals) and the corresponding
moving positions in the inner variable, e.g. (k/sqrt(qb) - c z1)/sqrt(1-c^2).
"""

from __future__ import annotations

import math
from functools import cache

import mpmath
from scipy import integrate, optimize

try:  # imported as part of the tests.reference package
    from .nonlinearities import LEAKY_ALPHA, Nonlinearity, get
except ImportError:  # pragma: no cover - run as a plain script
    from nonlinearities import LEAKY_ALPHA, Nonlinearity, get

MP_DPS = 30

_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)

# scipy quad settings ------------------------------------------------------
EPSABS = 1e-15
EPSREL = 1e-13
INNER_EPSABS = 1e-15
INNER_EPSREL = 1e-13
LIMIT = 400
ACCEPT_FACTOR = 100.0

# method-specific truncation and fixed breakpoints (kept different on purpose)
_L = {"A": 14.0, "B": 13.0}
_BASE = {
    "A": (-8.0, -4.0, -2.0, -1.0, 0.0, 1.0, 2.0, 4.0, 8.0),
    "B": (-9.0, -5.0, -3.0, -1.5, -0.5, 0.5, 1.5, 3.0, 5.0, 9.0),
}


WARNINGS = {"count": 0, "accepted": 0}


class QuadratureError(RuntimeError):
    """QUADPACK did not reach the requested tolerance."""


def _nl(phi) -> Nonlinearity:
    return get(phi) if isinstance(phi, str) else phi


def _gauss(z: float) -> float:
    return _INV_SQRT_2PI * math.exp(-0.5 * z * z)


def _points(cands, L):
    """Breakpoints strictly inside (-L, L), sorted, duplicates removed."""
    pts = sorted({float(p) for p in cands if -L < p < L and math.isfinite(p)})
    return pts


def _quad(f, L, pts, epsabs, epsrel):
    res = integrate.quad(
        f,
        -L,
        L,
        points=pts or None,
        epsabs=epsabs,
        epsrel=epsrel,
        limit=LIMIT,
        full_output=1,
    )
    if len(res) == 4:  # QUADPACK flagged a problem (ier > 0)
        val, err = res[0], res[1]
        WARNINGS["count"] += 1
        # Typically ier = 2/4 ("roundoff error detected"): the requested
        # tolerance is at the level of double-precision noise.  Accept the value
        # only when QUADPACK's own error estimate is still within 10x the
        # request; otherwise fail loudly.
        if err <= ACCEPT_FACTOR * max(epsabs, epsrel * abs(val)):
            WARNINGS["accepted"] += 1
            return val, err
        raise QuadratureError(f"quad failed: {res[3][:120]!r} (val={val}, err={err})")
    return res[0], res[1]


# ========================================================== 1-D, scipy (double)
def _one_d_quad(phi, q, kind, method="A"):
    nl = _nl(phi)
    L = _L[method]
    sq = math.sqrt(q)
    pts = _points(list(_BASE[method]) + [k / sq for k in nl.kinks], L)
    f, df = nl.phi, nl.dphi
    if kind == "F":

        def g(z):
            v = f(sq * z)
            return v * v * _gauss(z)
    elif kind == "G":

        def g(z):
            v = df(sq * z)
            return v * v * _gauss(z)
    elif kind == "dF":

        def g(z):
            x = sq * z
            return f(x) * df(x) * z * _gauss(z)
    elif kind == "mean":

        def g(z):
            return f(sq * z) * _gauss(z)
    elif kind == "dmean":

        def g(z):
            return df(sq * z) * _gauss(z)
    else:
        raise ValueError(kind)
    val, _ = _quad(g, L, pts, EPSABS, EPSREL)
    if kind == "dF":
        val /= sq
    return val


def F_quad(phi, q, method="A"):
    return _one_d_quad(phi, q, "F", method)


def G_quad(phi, q, method="A"):
    return _one_d_quad(phi, q, "G", method)


def dF_quad(phi, q, method="A"):
    return _one_d_quad(phi, q, "dF", method)


def mean_quad(phi, q, method="A"):
    return _one_d_quad(phi, q, "mean", method)


# ========================================================== 2-D, scipy (double)
def _equal_arg_quad(fa, fb, kinks, qa, qb, sign, method):
    """E[fa(sqrt(qa) z) fb(sign sqrt(qb) z)]: the c = +-1 limit of K / Kc."""
    L = _L[method]
    sa, sb = math.sqrt(qa), math.sqrt(qb)
    pts = _points(list(_BASE[method]) + [k / sa for k in kinks] + [sign * k / sb for k in kinks], L)
    return _quad(lambda z: fa(sa * z) * fb(sign * sb * z) * _gauss(z), L, pts, EPSABS, EPSREL)[0]


def _bivariate_quad(phi, qa, qb, c, deriv, method="A"):
    nl = _nl(phi)
    f = nl.dphi if deriv else nl.phi
    kinks = nl.kinks
    L = _L[method]
    base = list(_BASE[method])
    if c >= 1.0 or c <= -1.0:
        return _equal_arg_quad(f, f, kinks, qa, qb, 1.0 if c > 0 else -1.0, method)
    sa, sb = math.sqrt(qa), math.sqrt(qb)

    if method == "A":
        s = math.sqrt((1.0 - c) * (1.0 + c))
        kz_b = [k / sb for k in kinks]

        def inner(z1):
            m = c * z1
            pts = _points(base + [(kz - m) / s for kz in kz_b], L)
            return _quad(lambda z2: f(sb * (m + s * z2)) * _gauss(z2), L, pts, INNER_EPSABS, INNER_EPSREL)[0]

        def outer(z1):
            a = f(sa * z1)
            if a == 0.0:
                return 0.0
            return a * _gauss(z1) * inner(z1)

        opts = base + [k / sa for k in kinks]
        if c != 0.0:
            opts += [k / (c * sb) for k in kinks]
        return _quad(outer, L, _points(opts, L), EPSABS, EPSREL)[0]

    if method == "B":
        a = math.sqrt(0.5 * (1.0 + c))
        b = math.sqrt(0.5 * (1.0 - c))

        def inner(z1):
            x = a * z1
            pts = _points(
                base + [(k / sa - x) / b for k in kinks] + [(x - k / sb) / b for k in kinks],
                L,
            )
            return _quad(
                lambda z2: f(sa * (x + b * z2)) * f(sb * (x - b * z2)) * _gauss(z2),
                L,
                pts,
                INNER_EPSABS,
                INNER_EPSREL,
            )[0]

        def outer(z1):
            return _gauss(z1) * inner(z1)

        # g(z1) = inner(z1) loses smoothness (3rd derivative for K, 2nd for Kc)
        # where the two moving inner kinks coincide: 2 a z1 = k/sa + k'/sb.
        opts = base + [(k / sa + kk / sb) / (2.0 * a) for k in kinks for kk in kinks]
        return _quad(outer, L, _points(opts, L), EPSABS, EPSREL)[0]

    raise ValueError(method)


def K_quad(phi, qa, qb, c, method="A"):
    """E[phi(u1) phi(u2)] with Var u1 = qa, Var u2 = qb, corr(u1, u2) = c."""
    return _bivariate_quad(phi, qa, qb, c, False, method)


def Kc_quad(phi, qa, qb, c, method="A"):
    """E[phi'(u1) phi'(u2)] with Var u1 = qa, Var u2 = qb, corr(u1, u2) = c."""
    return _bivariate_quad(phi, qa, qb, c, True, method)


# ========================================================== 1-D, mpmath (30 dig.)
_MP_L = 20


# x-scales (in x = sqrt(q) z) at which a sharp phi is cut as well, so that tanh-sinh
# resolves phi(sqrt(q) z) at large q (q* up to 1e6); chosen apart from sigprop's set
_MP_X_SCALES = (0.2, 0.6, 1.5, 4.0, 10.0, 25.0, 60.0)


def _mp_intervals(nl, sq):
    pts = {-_MP_L, -10, -6, -3, -1.5, 0, 1.5, 3, 6, 10, _MP_L}
    cuts = sorted(mpmath.mpf(p) for p in pts)
    for k in (*nl.kinks, *_MP_X_SCALES, *(-x for x in _MP_X_SCALES)):
        kz = mpmath.mpf(k) / sq
        if -_MP_L < kz < _MP_L and all(abs(kz - p) > 0 for p in cuts):
            cuts.append(kz)
    return sorted(cuts)


def _one_d_mp(phi, q, kind, error=False):
    nl = _nl(phi)
    # never lower a precision raised by the caller (e.g. inside mpmath.diff)
    with mpmath.workdps(max(MP_DPS, mpmath.mp.dps)):
        q = mpmath.mpf(q)
        sq = mpmath.sqrt(q)
        norm = 1 / mpmath.sqrt(2 * mpmath.pi)
        f, df = nl.phi_mp, nl.dphi_mp
        if kind == "F":

            def g(z):
                return f(sq * z) ** 2 * mpmath.exp(-z * z / 2)
        elif kind == "G":

            def g(z):
                return df(sq * z) ** 2 * mpmath.exp(-z * z / 2)
        elif kind == "dF":

            def g(z):
                x = sq * z
                return f(x) * df(x) * z * mpmath.exp(-z * z / 2)
        elif kind == "mean":

            def g(z):
                return f(sq * z) * mpmath.exp(-z * z / 2)
        elif kind == "dmean":

            def g(z):
                return df(sq * z) * mpmath.exp(-z * z / 2)
        else:
            raise ValueError(kind)
        val, err = mpmath.quad(g, _mp_intervals(nl, sq), error=True)
        val *= norm
        err *= norm
        if kind == "dF":
            val /= sq
            err /= sq
        if error:
            return +val, +err
        return +val


def F_mp(phi, q, error=False):
    return _one_d_mp(phi, q, "F", error)


def G_mp(phi, q, error=False):
    return _one_d_mp(phi, q, "G", error)


def dF_mp(phi, q, error=False):
    return _one_d_mp(phi, q, "dF", error)


def mean_mp(phi, q, error=False):
    return _one_d_mp(phi, q, "mean", error)


def dmean_mp(phi, q, error=False):
    return _one_d_mp(phi, q, "dmean", error)


# ========================================================== 2-D, mpmath
# Nested Gauss-Legendre (mpmath, degree doubling until converged) in the
# route-A parametrisation, split at the same kinks.  Two settings with
# different precision, truncation and partition; their agreement (~1e-20 in
# practice) is the error estimate of the stored 2-D values.
MP2_SETTINGS = {
    1: {"dps": 20, "L": 12, "base": (-12, -4, 0, 4, 12)},
    2: {"dps": 24, "L": 13, "base": (-13, -6, -3, -1.5, 0, 1.5, 3, 6, 13)},
}


def K_mp(phi, qa, qb, c, deriv=False, setting=1):
    """E[phi(u1) phi(u2)] (or E[phi' phi'] if deriv) to ~20 digits (mpmath)."""
    nl = _nl(phi)
    f = nl.dphi_mp if deriv else nl.phi_mp
    st = MP2_SETTINGS[setting]
    L = st["L"]
    with mpmath.workdps(st["dps"]):
        qa, qb, c = mpmath.mpf(qa), mpmath.mpf(qb), mpmath.mpf(c)
        sa, sb = mpmath.sqrt(qa), mpmath.sqrt(qb)
        base = [mpmath.mpf(b) for b in st["base"]]
        if abs(c) == 1:
            sign = 1 if c > 0 else -1
            pts = set(base)
            for k in nl.kinks:
                for p in (k / sa, sign * k / sb):
                    if -L < p < L:
                        pts.add(p)
            val = mpmath.quad(
                lambda z: f(sa * z) * f(sign * sb * z) * mpmath.exp(-z * z / 2),
                sorted(pts),
                method="gauss-legendre",
            )
            return +(val / mpmath.sqrt(2 * mpmath.pi))
        s = mpmath.sqrt((1 - c) * (1 + c))

        def inner(z1):
            m = c * z1
            pts = set(base)
            for k in nl.kinks:
                p = (k / sb - m) / s
                if -L < p < L:
                    pts.add(p)
            return mpmath.quad(
                lambda z2: f(sb * (m + s * z2)) * mpmath.exp(-z2 * z2 / 2),
                sorted(pts),
                method="gauss-legendre",
            )

        def outer(z1):
            a = f(sa * z1)
            if a == 0:
                return a
            return a * mpmath.exp(-z1 * z1 / 2) * inner(z1)

        opts = set(base)
        for k in nl.kinks:
            cands = [k / sa] + ([k / (c * sb)] if c != 0 else [])
            for p in cands:
                if -L < p < L:
                    opts.add(p)
        val = mpmath.quad(outer, sorted(opts), method="gauss-legendre")
        return +(val / (2 * mpmath.pi))


def c_star_newton_mp(phi, q, sigma_w2, sigma_b2, c0, setting=1, maxiter=4):
    """Refine a double-precision c* by Newton steps with the mpmath K, Kc.

    h(c) = C(c) - c,  h'(c) = sigma_w2 Kc(q, q, c) - 1  (Price: dK/dc = q Kc).
    Returns (c*, chi_c = sigma_w2 Kc(q, q, c*), last Newton step).
    """
    st = MP2_SETTINGS[setting]
    with mpmath.workdps(st["dps"]):
        q = mpmath.mpf(q)
        sw, sb = mpmath.mpf(sigma_w2), mpmath.mpf(sigma_b2)
        c = mpmath.mpf(c0)
        for _ in range(maxiter):
            h = (sw * K_mp(phi, q, q, c, False, setting) + sb) / q - c
            dh = sw * K_mp(phi, q, q, c, True, setting) - 1
            step = h / dh
            c -= step
            if abs(step) < 1e-10:
                # quadratic convergence: the remaining error is O(step^2)
                break
        else:
            raise ValueError("Newton for c* did not converge")
        chi_c = sw * K_mp(phi, q, q, c, True, setting)
        return +c, +chi_c, abs(step)


# ========================================================== fixed points
BRENT_XTOL = 1e-15
BRENT_RTOL = 4 * 2.220446049250313e-16  # the smallest rtol scipy's brentq accepts


def V_quad(phi, q, sigma_w2, sigma_b2, rho=1.0, method="A"):
    return sigma_w2 / rho * F_quad(phi, q, method) + sigma_b2


def iterate_q(phi, sigma_w2, sigma_b2, rho=1.0, q0=1.0, tol=1e-7, maxiter=20000):
    """Plain iteration of the length map from q0 (identifies the attracting q*)."""
    q = q0
    for _ in range(maxiter):
        qn = V_quad(phi, q, sigma_w2, sigma_b2, rho)
        if abs(qn - q) <= tol * max(1.0, qn):
            return qn
        if qn > 1e6:
            raise ValueError("length map diverges")
        q = qn
    raise ValueError("length map iteration did not converge")


def q_star_quad(phi, sigma_w2, sigma_b2, rho=1.0, method="A", q0=1.0):
    """q* with brentq on V(q) - q, bracketed around the iterate of V from q0."""
    qi = iterate_q(phi, sigma_w2, sigma_b2, rho, q0)

    def h(q):
        return V_quad(phi, q, sigma_w2, sigma_b2, rho, method) - q

    lo, hi = qi * (1 - 1e-4), qi * (1 + 1e-4)
    for _ in range(60):
        if h(lo) > 0 > h(hi):
            break
        lo, hi = lo * (1 - 1e-2), hi * (1 + 1e-2)
    else:
        raise ValueError("could not bracket q*")
    return optimize.brentq(h, lo, hi, xtol=BRENT_XTOL, rtol=BRENT_RTOL, maxiter=500)


def q_star_mp(phi, sigma_w2, sigma_b2, rho=1.0, q_guess=None, tol=1e-24):
    """q* to ~30 digits: Newton on V(q) - q with the mpmath integrals.

    V'(q) = (sigma_w2/rho) dF/dq is known, so Newton converges quadratically from
    the double-precision brentq root.  Returns (q*, last Newton step).
    """
    if q_guess is None:
        q_guess = q_star_quad(phi, sigma_w2, sigma_b2, rho)
    with mpmath.workdps(MP_DPS):
        sw = mpmath.mpf(sigma_w2) / mpmath.mpf(rho)
        sb = mpmath.mpf(sigma_b2)
        q = mpmath.mpf(q_guess)
        step = mpmath.mpf(1)
        for _ in range(30):
            r = sw * F_mp(phi, q) + sb - q
            d = sw * dF_mp(phi, q) - 1
            step = r / d
            q -= step
            if abs(step) < tol * q:
                break
        else:
            raise ValueError("Newton for q* did not converge")
        return +q, abs(step)


def C_quad(phi, c, q, sigma_w2, sigma_b2, method="A"):
    return (sigma_w2 * K_quad(phi, q, q, c, method) + sigma_b2) / q


def c_star_quad(phi, q, sigma_w2, sigma_b2, rho=1.0, method="A", bracket=None):
    """Stable fixed point c* < 1 of C (brentq), with the bracket that was used.

    The bracket is the first sign change (C(c) - c going from + to -) on a
    fixed grid; C is increasing with C(0) >= 0, so iterating from c = 0
    converges to exactly this root.
    """

    def h(c):
        return C_quad(phi, c, q, sigma_w2, sigma_b2, method) - c

    if bracket is None:
        grid = [0.0, 0.2, 0.4, 0.6, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.999]
        if rho < 1.0:
            grid.append(1.0)
        prev_c, prev_h = None, None
        for cc in grid:
            hc = h(cc)
            if prev_h is not None and prev_h > 0 and hc < 0:
                bracket = (prev_c, cc)
                break
            if hc == 0.0:
                return cc, (cc, cc)
            prev_c, prev_h = cc, hc
        else:
            raise ValueError("no c* < 1 found on the grid")
    cs = optimize.brentq(h, bracket[0], bracket[1], xtol=BRENT_XTOL, rtol=BRENT_RTOL, maxiter=500)
    return cs, bracket


# ========================================================== tanh critical line
def critical_q_mp(phi, sigma_b2, q_guess, tol=1e-24):
    """Order-to-chaos line at rho = 1: solve q = F(q)/G(q) + sigma_b2 (mpmath).

    (chi_1 = sigma_w2 G(q*) = 1 and q* = sigma_w2 F(q*) + sigma_b2 eliminate
    sigma_w2 = 1/G(q*).)  Secant iterations from q_guess; returns
    (sigma_w2, q*, last step).
    """
    with mpmath.workdps(MP_DPS):
        sb = mpmath.mpf(sigma_b2)

        def h(q):
            return q - F_mp(phi, q) / G_mp(phi, q) - sb

        q0 = mpmath.mpf(q_guess)
        q1 = q0 * (1 + mpmath.mpf("1e-6"))
        h0, h1 = h(q0), h(q1)
        step = mpmath.mpf(1)
        for _ in range(60):
            step = h1 * (q1 - q0) / (h1 - h0)
            q0, h0 = q1, h1
            q1 = q1 - step
            if abs(step) < tol * q1:
                break
            h1 = h(q1)
        else:
            raise ValueError("critical-line secant did not converge")
        return 1 / G_mp(phi, q1), q1, abs(step)


def critical_sigma_w2_quad(phi, sigma_b2, lo=1.0, hi=4.0):
    """Same line by brentq over sigma_w2 of chi_1(sigma_w2) - 1 (scipy only)."""

    @cache
    def qs(sw2):
        return q_star_quad(phi, sw2, sigma_b2)

    def h(sw2):
        return sw2 * G_quad(phi, qs(sw2)) - 1.0

    sw2 = optimize.brentq(h, lo, hi, xtol=BRENT_XTOL, rtol=BRENT_RTOL, maxiter=500)
    return sw2, qs(sw2)


# ========================================================== closed forms
# Known closed forms (used only as cross-checks of the quadratures).  They are
# written with mpmath so that they can be evaluated to 30 digits; float inputs
# are taken as exact binary values.  Each returns None when no closed form is
# coded for that nonlinearity.
def _arccos_J(c):
    """(sqrt(1 - c^2) + (pi - arccos c) c) / (2 pi)  (arc-cosine kernel, n = 1)."""
    return (mpmath.sqrt(1 - c * c) + (mpmath.pi - mpmath.acos(c)) * c) / (2 * mpmath.pi)


def F_exact(name, q):
    with mpmath.workdps(MP_DPS):
        q = mpmath.mpf(q)
        al = mpmath.mpf(LEAKY_ALPHA)
        if name == "erf":
            return +(2 / mpmath.pi * mpmath.asin(2 * q / (1 + 2 * q)))
        if name == "relu":
            return q / 2
        if name == "leaky_relu":
            return q * (1 + al * al) / 2
        if name == "linear":
            return +q
        if name == "sin":
            return (1 - mpmath.exp(-2 * q)) / 2
        if name == "hard_tanh":
            a = 1 / mpmath.sqrt(q)
            return q * (mpmath.erf(a / mpmath.sqrt(2)) - 2 * a * mpmath.npdf(a)) + mpmath.erfc(a / mpmath.sqrt(2))
        return None


def dF_exact(name, q):
    with mpmath.workdps(MP_DPS):
        q = mpmath.mpf(q)
        al = mpmath.mpf(LEAKY_ALPHA)
        if name == "erf":
            return 4 / mpmath.pi / ((1 + 2 * q) * mpmath.sqrt(1 + 4 * q))
        if name == "relu":
            return mpmath.mpf(1) / 2
        if name == "leaky_relu":
            return (1 + al * al) / 2
        if name == "linear":
            return mpmath.mpf(1)
        if name == "sin":
            return mpmath.exp(-2 * q)
        if name == "hard_tanh":
            a = 1 / mpmath.sqrt(q)
            return mpmath.erf(a / mpmath.sqrt(2)) - 2 * a * mpmath.npdf(a)
        return None


def G_exact(name, q):
    with mpmath.workdps(MP_DPS):
        q = mpmath.mpf(q)
        al = mpmath.mpf(LEAKY_ALPHA)
        if name == "erf":
            return 4 / mpmath.pi / mpmath.sqrt(1 + 4 * q)
        if name == "relu":
            return mpmath.mpf(1) / 2
        if name == "leaky_relu":
            return (1 + al * al) / 2
        if name == "linear":
            return mpmath.mpf(1)
        if name == "sin":
            return (1 + mpmath.exp(-2 * q)) / 2
        if name == "hard_tanh":
            return mpmath.erf(1 / mpmath.sqrt(2 * q))
        return None


def K_exact(name, qa, qb, c):
    with mpmath.workdps(MP_DPS):
        qa, qb, c = mpmath.mpf(qa), mpmath.mpf(qb), mpmath.mpf(c)
        r = mpmath.sqrt(qa * qb)
        al = mpmath.mpf(LEAKY_ALPHA)
        if name == "erf":
            return 2 / mpmath.pi * mpmath.asin(2 * c * r / mpmath.sqrt((1 + 2 * qa) * (1 + 2 * qb)))
        if name == "relu":
            return r * _arccos_J(c)
        if name == "leaky_relu":
            return r * (al * al * c + al * (1 - al) * c + (1 - al) ** 2 * _arccos_J(c))
        if name == "linear":
            return r * c
        if name == "sin":
            return mpmath.exp(-(qa + qb) / 2) * mpmath.sinh(c * r)
        return None


def Kc_exact(name, qa, qb, c):
    with mpmath.workdps(MP_DPS):
        qa, qb, c = mpmath.mpf(qa), mpmath.mpf(qb), mpmath.mpf(c)
        r = mpmath.sqrt(qa * qb)
        al = mpmath.mpf(LEAKY_ALPHA)
        if name == "erf":
            return 4 / mpmath.pi / mpmath.sqrt((1 + 2 * qa) * (1 + 2 * qb) - 4 * qa * qb * c * c)
        if name == "relu":
            return (mpmath.pi - mpmath.acos(c)) / (2 * mpmath.pi)
        if name == "leaky_relu":
            return al * al + al * (1 - al) + (1 - al) ** 2 * (mpmath.pi - mpmath.acos(c)) / (2 * mpmath.pi)
        if name == "linear":
            return mpmath.mpf(1)
        if name == "sin":
            return mpmath.exp(-(qa + qb) / 2) * mpmath.cosh(c * r)
        return None
