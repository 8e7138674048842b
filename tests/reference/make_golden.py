"""Generate tests/reference/golden.json (independent reference values).

Run from the repository root (either form works):

    python tests/reference/make_golden.py
    python -m tests.reference.make_golden

Nothing from ``sigprop`` is imported.  Every value is computed twice (or more)
by independent routes and the largest relative discrepancy is stored with it:

* point records: q*, F(q*), G(q*), dF/dq(q*) -> slope_q, chi_1, xi_q come from
  30-digit mpmath integrals (q* by Newton on V(q) - q, started from the double
  precision brentq root); they are checked against the scipy-quad routes A and
  B (each with its own brentq for q*), against mpmath.diff of F for the slope
  formula, and against closed forms where those exist (erf, relu, leaky_relu,
  linear, sin, hard_tanh).  c* (brentq on C(c) - c) and chi_c use the nested
  scipy quadratures; route A is stored, route B (different parametrisation,
  truncation and breakpoints, its own brentq) gives the discrepancy.  Where
  c* = 1 (rho = 1, chi_1 < 1) chi_c = chi_1 and C(c) > c is verified on a grid.
* bivariate records: K, Kc from route A; discrepancy against route B, closed
  forms where available, and for c = 0 the product of 30-digit means.
  Relative errors there are measured against max(|value|, scale) with
  scale = sqrt(F(qa) F(qb)) for K and sqrt(G(qa) G(qb)) for Kc, the bound
  given by Cauchy-Schwarz (K of an odd phi at c = 0 is exactly 0 and is
  stored as 0.0).
* critical-line records: mpmath secant on q = F(q)/G(q) + sigma_b2 with
  sigma_w2 = 1/G(q) versus scipy brentq over sigma_w2 of chi_1 - 1.

``ref_err`` is the maximum over a record's ``ref_err_fields``; the script
fails if any exceeds 1e-11.
"""

from __future__ import annotations

import itertools
import json
import math
import multiprocessing as mp_
import sys
import time
from pathlib import Path

import mpmath

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import integrals as I
    from nonlinearities import get
else:
    from . import integrals as I
    from .nonlinearities import get

OUT = Path(__file__).resolve().parent / "golden.json"
MAX_REF_ERR = 1e-11

# (phi, sigma_w2, sigma_b2, rho)
POINTS = [
    # tanh
    ("tanh", 0.8, 0.1, 1.0),
    ("tanh", 1.5, 0.05, 1.0),
    ("tanh", 2.5, 0.1, 1.0),
    ("tanh", 4.0, 0.3, 1.0),
    ("tanh", 2.5, 0.1, 0.9),
    ("tanh", 1.5, 0.05, 0.5),
    # erf
    ("erf", 0.8, 0.1, 1.0),
    ("erf", 1.2, 0.05, 1.0),
    ("erf", 2.0, 0.1, 1.0),
    ("erf", 3.0, 0.2, 1.0),
    ("erf", 2.0, 0.1, 0.9),
    ("erf", 1.2, 0.05, 0.5),
    # relu: chaos impossible with finite q* (chi_1 = sigma_w2/2 = rho * slope_q < 1)
    ("relu", 1.5, 0.1, 1.0),
    ("relu", 1.2, 0.5, 1.0),
    ("relu", 1.9, 0.01, 1.0),
    ("relu", 1.5, 0.1, 0.9),
    ("relu", 0.8, 0.1, 0.5),
    # leaky_relu (alpha = 0.1): likewise ordered only
    ("leaky_relu", 1.5, 0.1, 1.0),
    ("leaky_relu", 1.8, 0.05, 1.0),
    # hard_tanh
    ("hard_tanh", 0.8, 0.1, 1.0),
    ("hard_tanh", 1.5, 0.05, 1.0),
    ("hard_tanh", 2.5, 0.1, 1.0),
    ("hard_tanh", 1.5, 0.05, 0.9),
    ("hard_tanh", 1.2, 0.1, 0.5),
    # linear: q* = sigma_b2/(1 - sigma_w2), ordered only
    ("linear", 0.5, 0.1, 1.0),
    ("linear", 0.9, 0.2, 1.0),
    # sigmoid: chi_1 > 1 needs q* ~> 45 (q G/F < 1 below)
    ("sigmoid", 4.0, 0.1, 1.0),
    ("sigmoid", 16.0, 0.1, 1.0),
    ("sigmoid", 130.0, 0.1, 1.0),
    # softplus: ordered only (G <= 1/2 and F > q/2 give chi_1 < 1 always)
    ("softplus", 0.5, 0.1, 1.0),
    ("softplus", 1.5, 0.1, 1.0),
    # gelu: stable chaotic fixed points only in a thin window (q* ~> 4).
    # (sigma_w2/rho = 2 is avoided for gelu/silu: V then has a second, unstable
    # fixed point at large q.)
    ("gelu", 1.0, 0.1, 1.0),
    ("gelu", 1.9, 0.05, 1.0),
    ("gelu", 1.974, 0.22, 1.0),
    ("gelu", 1.5, 0.1, 0.9),
    ("gelu", 0.9, 0.1, 0.5),
    # silu: stable chaotic fixed points only for q* ~> 15
    ("silu", 1.0, 0.1, 1.0),
    ("silu", 1.9, 0.1, 1.0),
    ("silu", 1.98, 0.7, 1.0),
    # elu
    ("elu", 1.0, 0.1, 1.0),
    ("elu", 1.5, 0.1, 1.0),
    ("elu", 1.75, 0.02, 1.0),
    # selu
    ("selu", 0.8, 0.1, 1.0),
    ("selu", 1.2, 0.05, 1.0),
    ("selu", 1.3, 0.02, 1.0),
    # sin
    ("sin", 0.8, 0.1, 1.0),
    ("sin", 2.5, 0.1, 1.0),
    ("sin", 4.0, 0.1, 1.0),
]

# (phi, qa, qb, c)
BIVARIATE = [
    ("tanh", 1.0, 1.0, 0.5),
    ("tanh", 0.5, 2.0, -0.7),
    ("tanh", 1.5, 1.5, 0.999),
    ("tanh", 2.0, 0.7, 0.95),
    ("tanh", 1.2, 1.2, 0.0),
    ("erf", 0.8, 0.8, 0.95),
    ("erf", 0.4, 1.6, 0.5),
    ("erf", 1.0, 1.0, 0.999),
    ("relu", 1.0, 1.0, 0.0),
    ("relu", 0.5, 2.0, -0.7),
    ("relu", 1.2, 1.2, 0.999),
    ("leaky_relu", 0.7, 1.3, 0.5),
    ("leaky_relu", 1.0, 1.0, -0.7),
    ("hard_tanh", 1.0, 1.0, 0.95),
    ("hard_tanh", 0.6, 2.5, -0.7),
    ("hard_tanh", 2.0, 2.0, 0.999),
    ("hard_tanh", 1.5, 0.8, 0.3),
    ("linear", 1.0, 2.0, 0.5),
    ("sigmoid", 1.0, 1.0, 0.0),
    ("sigmoid", 3.0, 0.5, 0.95),
    ("softplus", 1.0, 1.0, 0.5),
    ("softplus", 2.0, 0.5, -0.7),
    ("gelu", 1.0, 1.0, 0.999),
    ("gelu", 0.5, 1.5, 0.5),
    ("silu", 1.0, 1.0, -0.7),
    ("silu", 2.0, 0.8, 0.95),
    ("elu", 1.0, 1.0, 0.5),
    ("elu", 0.3, 2.0, 0.999),
    ("selu", 1.0, 1.0, 0.0),
    ("selu", 2.0, 1.0, -0.7),
    ("sin", 1.0, 1.0, 0.95),
    ("sin", 0.5, 1.5, 0.0),
]

# (phi, sigma_b2)
CRITICAL = [
    ("tanh", 0.01),
    ("tanh", 0.05),
    ("tanh", 0.1),
    ("tanh", 0.3),
    ("erf", 0.05),
]

# Schoenholz et al. 2017: tanh, sigma_b2 = 0.05 -> critical sigma_w2 ~ 1.7610
PUBLISHED_TANH_CRITICAL = (0.05, 1.7610)


def _rel(a, b, scale=None):
    a, b = float(a), float(b)
    den = abs(b) if scale is None else max(abs(b), abs(float(scale)))
    if den == 0.0:
        return abs(a - b)
    return abs(a - b) / den


def _count_sign_changes(f, xs):
    vals = [f(x) for x in xs]
    return sum(1 for u, v in itertools.pairwise(vals) if (u > 0) != (v > 0))


# --------------------------------------------------------------- point records
def point_record(args):
    name, sw2, sb2, rho = args
    t0 = time.time()
    errs = {}

    # ---- q*: two double-precision brentq routes, then 30-digit Newton
    qA = I.q_star_quad(name, sw2, sb2, rho, method="A")
    qB = I.q_star_quad(name, sw2, sb2, rho, method="B")
    q_mp, last_step = I.q_star_mp(name, sw2, sb2, rho, q_guess=qA)
    q = float(q_mp)
    errs["q_star"] = max(_rel(qA, q_mp), _rel(qB, q_mp), float(last_step / q_mp))

    # uniqueness of the fixed point of V on (0, 1e4] (log grid of 241 points)
    grid = [10 ** (-6 + k / 24) for k in range(241)]
    n_roots = _count_sign_changes(lambda x: I.V_quad(name, x, sw2, sb2, rho) - x, grid)
    assert n_roots == 1, (name, sw2, sb2, rho, n_roots)

    with mpmath.workdps(I.MP_DPS):
        sw_mp = mpmath.mpf(sw2)
        rho_mp = mpmath.mpf(rho)
        F_mp, F_e = I.F_mp(name, q_mp, error=True)
        G_mp, G_e = I.G_mp(name, q_mp, error=True)
        dF_mp, dF_e = I.dF_mp(name, q_mp, error=True)
        slope_mp = sw_mp / rho_mp * dF_mp
        chi1_mp = sw_mp * G_mp
        xi_q_mp = -1 / mpmath.log(slope_mp)
        # independent check of the slope formula: numerical derivative of F
        dF_num = mpmath.diff(lambda x: I.F_mp(name, x), q_mp)
        mp_quad_err = max(F_e / F_mp, G_e / G_mp, abs(dF_e / dF_mp))

    for route, qr in (("A", qA), ("B", qB)):
        Fr = I.F_quad(name, qr, route)
        Gr = I.G_quad(name, qr, route)
        dFr = I.dF_quad(name, qr, route)
        slope_r = sw2 / rho * dFr
        errs["F"] = max(errs.get("F", 0.0), _rel(Fr, F_mp))
        errs["G"] = max(errs.get("G", 0.0), _rel(Gr, G_mp))
        errs["chi_1"] = max(errs.get("chi_1", 0.0), _rel(sw2 * Gr, chi1_mp))
        errs["slope_q"] = max(errs.get("slope_q", 0.0), _rel(slope_r, slope_mp))
        errs["xi_q"] = max(errs.get("xi_q", 0.0), _rel(-1.0 / math.log(slope_r), xi_q_mp))
    errs["slope_q"] = max(errs["slope_q"], _rel(dF_num, dF_mp))
    errs["mp_quad"] = float(mp_quad_err)

    # closed forms (and the exact fixed point for positively homogeneous phi)
    Fx, Gx, dFx = I.F_exact(name, q_mp), I.G_exact(name, q_mp), I.dF_exact(name, q_mp)
    if Fx is not None:
        errs["F"] = max(errs["F"], _rel(F_mp, Fx))
        errs["G"] = max(errs["G"], _rel(G_mp, Gx))
        errs["slope_q"] = max(errs["slope_q"], _rel(dF_mp, dFx))
    if name in ("relu", "leaky_relu", "linear"):
        with mpmath.workdps(I.MP_DPS):
            g = {"relu": mpmath.mpf(1) / 2, "linear": mpmath.mpf(1)}.get(name, (1 + mpmath.mpf(0.1) ** 2) / 2)
            q_exact = mpmath.mpf(sb2) / (1 - sw_mp / rho_mp * g)
        errs["q_star"] = max(errs["q_star"], _rel(q_mp, q_exact))

    chi1 = float(chi1_mp)
    slope = float(slope_mp)
    assert slope < 1.0, (name, sw2, sb2, rho, slope)

    # ---- c*
    if rho == 1.0 and chi1 < 1.0:
        c_star, chi_c = 1.0, chi1
        xi_c = float(-1 / mpmath.log(chi1_mp))
        # verify C(c) > c on [0, 1) (C - c is convex there, C(1) = 1, C'(1) < 1)
        for cc in (0.0, 0.5, 0.9, 0.99):
            h = I.C_quad(name, cc, q, sw2, sb2) - cc
            assert h > 0, (name, sw2, sb2, cc, h)
        errs["c_star"] = 0.0
        errs["chi_c"] = errs["chi_1"]
        errs["xi_c"] = _rel(-1.0 / math.log(sw2 * I.G_quad(name, qA)), xi_c)
        c_bracket = None
        checks = {}
    else:
        cA, c_bracket = I.c_star_quad(name, q, sw2, sb2, rho, method="A")
        cB, _ = I.c_star_quad(name, q, sw2, sb2, rho, method="B", bracket=c_bracket)
        chi_cA = sw2 * I.Kc_quad(name, q, q, cA, "A")
        chi_cB = sw2 * I.Kc_quad(name, q, q, cB, "B")
        # polish with the ~20-digit mpmath K, Kc (two independent settings)
        c1, chi1c, _ = I.c_star_newton_mp(name, q_mp, sw2, sb2, cA, setting=1)
        c2, chi2c, _ = I.c_star_newton_mp(name, q_mp, sw2, sb2, cA, setting=2)
        c_star, chi_c = float(c1), float(chi1c)
        with mpmath.workdps(24):
            xi_c1 = -1 / mpmath.log(chi1c)
            xi_c2 = -1 / mpmath.log(chi2c)
        xi_c = float(xi_c1)
        errs["c_star"] = max(_rel(c1, c2), 2**-53)
        errs["chi_c"] = max(_rel(chi1c, chi2c), 2**-53)
        errs["xi_c"] = max(_rel(xi_c1, xi_c2), 2**-53)
        # independent double-precision routes A and B (own brentq each): their
        # errors are ~1e-16 / (1 - chi_c) (c*) and more for chi_c, xi_c
        checks = {
            "c_star_A": _rel(cA, c1),
            "c_star_B": _rel(cB, c1),
            "chi_c_A": _rel(chi_cA, chi1c),
            "chi_c_B": _rel(chi_cB, chi1c),
            "xi_c_A": _rel(-1.0 / math.log(chi_cA), xi_c1),
            "xi_c_B": _rel(-1.0 / math.log(chi_cB), xi_c1),
            "C_residual_A": abs(I.C_quad(name, c_star, q, sw2, sb2, "A") - c_star),
            "C_residual_B": abs(I.C_quad(name, c_star, q, sw2, sb2, "B") - c_star),
        }
        assert max(checks.values()) < 1e-10, (name, sw2, sb2, rho, checks)
        assert chi_c < 1.0, (name, sw2, sb2, rho, chi_c)

    ref_err = max(errs.values())
    rec = {
        "phi": name,
        "sigma_w2": sw2,
        "sigma_b2": sb2,
        "rho": rho,
        "q_star": q,
        "c_star": c_star,
        "chi_1": chi1,
        "chi_c": chi_c,
        "slope_q": slope,
        "xi_q": float(xi_q_mp),
        "xi_c": xi_c,
        "F": float(F_mp),
        "G": float(G_mp),
        "phase": "chaotic" if chi1 > 1.0 else "ordered",
        "ref_err": ref_err,
        "ref_err_fields": errs,
        "n_fixed_points_on_grid": n_roots,
        "check_double_routes": checks,
        "c_bracket": list(c_bracket) if c_bracket else None,
    }
    return rec, time.time() - t0


# ----------------------------------------------------------- bivariate records
def bivariate_record(args):
    name, qa, qb, c = args
    t0 = time.time()
    nl = get(name)
    sK = math.sqrt(I.F_quad(name, qa) * I.F_quad(name, qb))
    sKc = math.sqrt(I.G_quad(name, qa) * I.G_quad(name, qb))
    KA, KB = I.K_quad(name, qa, qb, c, "A"), I.K_quad(name, qa, qb, c, "B")
    KcA, KcB = I.Kc_quad(name, qa, qb, c, "A"), I.Kc_quad(name, qa, qb, c, "B")
    # stored values: ~20-digit mpmath; the error estimate is the largest
    # discrepancy with the independent routes (so it is conservative)
    Km, Kcm = I.K_mp(name, qa, qb, c, False), I.K_mp(name, qa, qb, c, True)
    errs = {
        "K": max(_rel(KA, Km, sK), _rel(KB, Km, sK), 2**-53),
        "Kc": max(_rel(KcA, Kcm, sKc), _rel(KcB, Kcm, sKc), 2**-53),
    }
    Kx, Kcx = I.K_exact(name, qa, qb, c), I.Kc_exact(name, qa, qb, c)
    if Kx is not None:
        errs["K"] = max(errs["K"], _rel(Km, Kx, sK))
        errs["Kc"] = max(errs["Kc"], _rel(Kcm, Kcx, sKc))
    if c == 0.0:
        with mpmath.workdps(I.MP_DPS):
            K0 = I.mean_mp(name, qa) * I.mean_mp(name, qb)
            Kc0 = I.dmean_mp(name, qa) * I.dmean_mp(name, qb)
        errs["K"] = max(errs["K"], _rel(Km, K0, sK))
        errs["Kc"] = max(errs["Kc"], _rel(Kcm, Kc0, sKc))
    K_val = 0.0 if (c == 0.0 and nl.odd) else float(Km)  # exact 0 by symmetry
    rec = {
        "phi": name,
        "qa": qa,
        "qb": qb,
        "c": c,
        "K": K_val,
        "Kc": float(Kcm),
        "ref_err": max(errs.values()),
        "ref_err_fields": errs,
        "ref_err_scale": {"K": sK, "Kc": sKc},
    }
    return rec, time.time() - t0


# -------------------------------------------------------- critical-line records
def critical_record(args):
    name, sb2 = args
    t0 = time.time()
    lo = 0.3 if name == "erf" else 1.0
    sw_q, q_q = I.critical_sigma_w2_quad(name, sb2, lo=lo, hi=4.0)
    sw_mp, q_mp, last = I.critical_q_mp(name, sb2, q_guess=q_q)
    with mpmath.workdps(I.MP_DPS):
        # residuals of the two defining equations at the 30-digit solution
        res_q = sw_mp * I.F_mp(name, q_mp) + mpmath.mpf(sb2) - q_mp
        res_chi = sw_mp * I.G_mp(name, q_mp) - 1
        slope = sw_mp * I.dF_mp(name, q_mp)
    assert slope < 1
    errs = {
        "sigma_w2": max(_rel(sw_q, sw_mp), float(abs(res_chi))),
        "q_star": max(_rel(q_q, q_mp), float(abs(res_q) / q_mp), float(last / q_mp)),
    }
    rec = {
        "phi": name,
        "sigma_b2": sb2,
        "sigma_w2": float(sw_mp),
        "q_star": float(q_mp),
        "slope_q": float(slope),
        "ref_err": max(errs.values()),
        "ref_err_fields": errs,
    }
    return rec, time.time() - t0


def _run(pool, fn, items, label):
    out = []
    for rec, dt in pool.imap(fn, items):
        print(f"  {label}: {rec['phi']:10s} ref_err={rec['ref_err']:.2e} ({dt:.1f}s)", flush=True)
        out.append(rec)
    return out


def main():
    t0 = time.time()
    with mp_.Pool(processes=2) as pool:
        crit = _run(pool, critical_record, CRITICAL, "critical")
        biv = _run(pool, bivariate_record, BIVARIATE, "bivariate")
        pts = _run(pool, point_record, POINTS, "point")

    sb2_pub, sw2_pub = PUBLISHED_TANH_CRITICAL
    tanh_crit = next(r for r in crit if r["phi"] == "tanh" and r["sigma_b2"] == sb2_pub)
    assert abs(tanh_crit["sigma_w2"] - sw2_pub) < 5e-5, tanh_crit

    worst = max(r["ref_err"] for r in pts + biv + crit)
    bad = [r for r in pts + biv + crit if r["ref_err"] > MAX_REF_ERR]
    data = {
        "meta": {
            "description": "Independent reference values for sigprop (mean-field "
            "signal propagation); generated by tests/reference/make_golden.py "
            "without importing sigprop.",
            "conventions": {
                "F": "E[phi(sqrt(q) z)^2]",
                "G": "E[phi'(sqrt(q) z)^2]",
                "V": "(sigma_w2/rho) F(q) + sigma_b2",
                "slope_q": "(sigma_w2/rho) dF/dq at q*",
                "chi_1": "sigma_w2 G(q*)",
                "K": "E[phi(u1) phi(u2)], u1 = sqrt(qa) z1, u2 = sqrt(qb) (c z1 + sqrt(1-c^2) z2)",
                "Kc": "E[phi'(u1) phi'(u2)]",
                "C": "(sigma_w2 K(q*, q*, c) + sigma_b2) / q*",
                "c_star": "limit of iterating C from c = 0",
                "chi_c": "sigma_w2 Kc(q*, q*, c*)",
                "xi_q": "-1/log(slope_q)",
                "xi_c": "-1/log(chi_c)",
                "leaky_relu_alpha": 0.1,
                "elu_alpha": 1.0,
                "selu_lambda": "1.0507009873554804934193349852946",
                "selu_alpha": "1.6732632423543772848170429916717",
                "critical_line": "rho = 1, sigma_w2 with chi_1 = 1 at q*",
            },
            "ref_err": "max relative discrepancy between independent computations "
            "of the record's values (see make_golden.py docstring); bivariate "
            "errors are relative to max(|value|, ref_err_scale)",
            "worst_ref_err": worst,
            "quad": {
                "epsabs": I.EPSABS,
                "epsrel": I.EPSREL,
                "inner_epsabs": I.INNER_EPSABS,
                "inner_epsrel": I.INNER_EPSREL,
                "limit": I.LIMIT,
                "truncation_L": {"A": 14.0, "B": 13.0, "mpmath": 20},
                "mp_dps": I.MP_DPS,
            },
        },
        "points": pts,
        "bivariate": biv,
        "critical_line": crit,
    }
    OUT.write_text(json.dumps(data, indent=1) + "\n")
    dt = time.time() - t0
    print(f"wrote {OUT}: {len(pts)} points, {len(biv)} bivariate, {len(crit)} critical")
    print(
        f"worst ref_err = {worst:.3e}; tanh critical sigma_w2(sigma_b2=0.05) = "
        f"{tanh_crit['sigma_w2']!r}; elapsed {dt:.1f}s"
    )
    if bad:
        raise SystemExit(f"{len(bad)} records exceed ref_err {MAX_REF_ERR}: " + ", ".join(f"{r['phi']}" for r in bad))


if __name__ == "__main__":
    main()
