"""Initialisers for real networks (PyTorch, JAX/Equinox): the per-layer length q^l of a deep network
initialised by them follows sigprop's mean-field trajectory, for Gaussian and orthogonal weights; the
weight and bias variances are the requested ones; nothing but Linear layers is touched; the
frameworks are imported only by their own submodule."""

import math
import subprocess
import sys

import numpy as np
import pytest

import sigprop as sp
from sigprop.errors import InvalidParameterError
from sigprop.init import orthogonal_gain

try:
    import torch
    from torch import nn
except ImportError:  # the PyTorch tests are skipped, the JAX ones still run
    torch = nn = None
needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed")

# A chaotic tanh point: c* ≈ 0.17, so a batch of random inputs stays decorrelated and averages out
# the finite-width noise (at c* = 1 every input would carry the same noise). q⁰ = 0.3 is far from
# q* ≈ 2.2, so the first layers test the length map, not only its fixed point.
SW2, SB2, Q0 = 4.0, 0.05, 0.3
WIDTH, DEPTH, BATCH, NETS = 1000, 12, 64, 3
Q_TOL = 0.03
"""Relative tolerance on q^l averaged over NETS networks. The measured per-network relative s.d. of
q^l at this width and batch is ≲ 0.9 % (Gaussian) and ≲ 0.5 % (orthogonal), so the mean of 3 has
s.d. ≲ 0.5 %: the tolerance is > 5 s.d. Finite-width bias is O(1/N) = 0.1 %."""


def _theory_q():
    return sp.trajectories("tanh", SW2, SB2, DEPTH, q0=Q0).q


def _check_trajectory(q_emp: np.ndarray) -> None:
    theory = _theory_q()
    assert np.all(np.abs(q_emp / theory - 1) < Q_TOL), np.round(q_emp / theory - 1, 4)
    # the test can tell: a 10 % error in σ_w² moves the trajectory beyond the tolerance
    wrong = sp.trajectories("tanh", 1.1 * SW2, SB2, DEPTH, q0=Q0).q
    assert np.max(np.abs(q_emp / wrong - 1)) > Q_TOL


def _inputs(generator, n: int, q0: float):
    """BATCH random inputs z⁰ with ‖z⁰‖²/N = q⁰ exactly."""
    x = torch.randn(BATCH, n, generator=generator)
    return x * math.sqrt(q0) / x.pow(2).mean(1, keepdim=True).sqrt()


# ---------------------------------------------------------------- PyTorch


@pytest.fixture
def one_thread():
    """One intra-op thread: on a small shared machine more threads make 1000×1000 QRs several times
    slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@needs_torch
@pytest.mark.parametrize("weights", ["gaussian", "orthogonal"])
def test_torch_network_follows_the_mean_field_length_map(weights, one_thread):
    """z^{l+1} = W φ(z^l) + b in a width-1000, 12-layer tanh network initialised by init_linear_:
    q^l = ‖z^l‖²/N tracks q^{l+1} = σ_w² E[tanh(√q^l z)²] + σ_b² (Poole et al. 2016, eq. 3), for both
    ensembles (the orthogonal gain keeps the Gaussian forward map)."""
    from sigprop.init.torch_ import init_linear_

    q = np.zeros(DEPTH + 1)
    for seed in range(NETS):
        g = torch.Generator().manual_seed(seed)
        layers = nn.ModuleList(nn.Linear(WIDTH, WIDTH) for _ in range(DEPTH))
        init_linear_(layers, SW2, SB2, weights=weights, generator=g)
        z = _inputs(g, WIDTH, Q0)
        qs = [z.pow(2).mean().item()]
        with torch.no_grad():
            for layer in layers:
                z = layer(torch.tanh(z))
                qs.append(z.pow(2).mean().item())
        q += np.array(qs) / NETS
    _check_trajectory(q)


@needs_torch
def test_torch_gaussian_variances_and_untouched_layers():
    """W_ij ~ N(0, σ_w²/fan_in) (mean square within 1 %: 4e5 entries give s.d. 0.2 %), b ~ N(0, σ_b²)
    (2000 entries, s.d. 3 %; tolerance 15 %), zero means; LayerNorm, Conv1d and Embedding keep their
    parameters bit for bit, and a bias-free Linear stays bias-free."""
    from sigprop.init.torch_ import init_linear_

    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Linear(400, 1000), nn.Tanh(), nn.LayerNorm(1000), nn.Linear(1000, 400, bias=False), nn.Conv1d(4, 4, 3)
    )
    model.add_module("emb", nn.Embedding(10, 5))
    others = {k: v.clone() for k, v in model.state_dict().items() if not k.startswith(("0.", "3."))}
    init_linear_(model, 2.5, 0.3, weights="gaussian", generator=torch.Generator().manual_seed(1))
    for m in (model[0], model[3]):
        fan_in = m.weight.shape[1]
        assert m.weight.pow(2).mean().item() * fan_in / 2.5 == pytest.approx(1.0, abs=0.01)
        assert abs(m.weight.mean().item()) < 5 * math.sqrt(2.5 / fan_in / m.weight.numel())
    assert model[0].bias.pow(2).mean().item() / 0.3 == pytest.approx(1.0, abs=0.15)
    assert model[3].bias is None
    for k, v in model.state_dict().items():
        if k in others:
            assert torch.equal(v, others[k]), k


@needs_torch
def test_torch_orthogonal_shapes_and_gain():
    """Square and contracting layers: W Wᵀ = σ_w² I; expanding layers: Wᵀ W = σ_w² (fan_out/fan_in) I,
    so ‖W y‖²/fan_out = σ_w² ‖y‖²/fan_in exactly; every layer has mean-square entry σ_w²/fan_in."""
    from sigprop.init.torch_ import init_linear_

    model = nn.Sequential(nn.Linear(64, 64), nn.Linear(64, 256), nn.Linear(256, 32))
    init_linear_(model, 1.7, 0.0, weights="orthogonal", generator=torch.Generator().manual_seed(0))
    model = model.double()
    for m in model:
        fan_out, fan_in = m.weight.shape
        g2 = orthogonal_gain(1.7, fan_in, fan_out) ** 2
        gram = m.weight @ m.weight.T if fan_out <= fan_in else m.weight.T @ m.weight
        assert torch.allclose(gram, g2 * torch.eye(min(fan_in, fan_out), dtype=torch.float64), atol=1e-5)
        assert m.weight.pow(2).mean().item() == pytest.approx(1.7 / fan_in, rel=1e-5)
        assert torch.count_nonzero(m.bias) == 0  # σ_b² = 0
    y = torch.randn(64, dtype=torch.float64)
    out = model[1].weight @ y
    assert out.pow(2).sum().item() / 256 == pytest.approx(1.7 * y.pow(2).sum().item() / 64, rel=1e-5)


@needs_torch
def test_torch_reproducible_and_validated():
    from sigprop.init.torch_ import init_linear_

    a, b = nn.Linear(30, 20), nn.Linear(30, 20)
    for m in (a, b):
        init_linear_(m, 1.0, 0.1, weights="orthogonal", generator=torch.Generator().manual_seed(5))
    assert torch.equal(a.weight, b.weight) and torch.equal(a.bias, b.bias)
    for args in ((a, 0.0, 0.1), (a, 1.0, -0.1), (a, math.inf, 0.0)):
        with pytest.raises(InvalidParameterError):
            init_linear_(*args)
    with pytest.raises(InvalidParameterError, match="weights"):
        init_linear_(a, 1.0, 0.1, weights="uniform")
    with pytest.raises(InvalidParameterError, match=r"no nn\.Linear"):
        init_linear_(nn.Tanh(), 1.0, 0.1)
    with pytest.raises(InvalidParameterError, match="lazy"):
        init_linear_(nn.LazyLinear(3), 1.0, 0.1)


# ---------------------------------------------------------------- imports


def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)


def test_sigprop_and_sigprop_init_do_not_import_torch_or_equinox():
    proc = _python(
        "import sys, sigprop, sigprop.init, sigprop.init.jax_, sigprop.recommend, sigprop.cli\n"
        "print('torch' in sys.modules, 'equinox' in sys.modules)"
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["False", "False"]


BLOCK = """
import sys

class Block:  # as if {name} were not installed
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "{name}":
            raise ModuleNotFoundError(f"No module named {{name!r}}")

sys.meta_path.insert(0, Block())
"""


def test_missing_frameworks_give_a_clear_message():
    proc = _python(BLOCK.format(name="torch") + "import sigprop.init.torch_")
    assert proc.returncode != 0 and "pip install 'sigprop[torch]'" in proc.stderr
    proc = _python(
        BLOCK.format(name="equinox") + "import jax\nfrom sigprop.init.jax_ import init_linear\n"
        "init_linear(object(), 1.0, 0.0, key=jax.random.key(0))"
    )
    assert proc.returncode != 0 and "pip install 'sigprop[equinox]'" in proc.stderr


# ---------------------------------------------------------------- JAX / Equinox


def test_jax_initializers_are_the_plain_jax_ones():
    """weight_init/bias_init are jax.nn.initializers (same key → same array): variance_scaling for the
    Gaussian case, orthogonal with gain g for the orthogonal one; Dense kernels are (fan_in, fan_out)."""
    import jax

    from sigprop.init.jax_ import bias_init, weight_init

    key = jax.random.key(3)
    plain = jax.nn.initializers.variance_scaling(2.0, "fan_in", "normal")(key, (300, 200))
    assert np.array_equal(weight_init(2.0)(key, (300, 200)), plain)
    k = weight_init(2.0, "orthogonal")(key, (100, 400))  # expanding: columns of W = kᵀ orthonormal
    assert np.allclose(k @ k.T, 2.0 * 4.0 * np.eye(100), atol=1e-10)
    assert np.mean(np.asarray(k) ** 2) == pytest.approx(2.0 / 100, rel=1e-12)
    w = weight_init(2.0, "orthogonal", in_axis=-1, out_axis=-2)(key, (50, 400))  # (fan_out, fan_in)
    assert np.allclose(w @ w.T, 2.0 * np.eye(50), atol=1e-10)
    big = weight_init(2.0)(key, (2000, 500))
    assert np.mean(np.asarray(big) ** 2) * 2000 / 2.0 == pytest.approx(1.0, abs=0.01)
    assert not np.any(bias_init(0.0)(key, (10,)))
    b = bias_init(0.5)(key, (20000,))
    assert np.mean(np.asarray(b) ** 2) / 0.5 == pytest.approx(1.0, abs=0.05)
    with pytest.raises(InvalidParameterError):
        weight_init(1.0, "orthogonal")(key, (3, 3, 3))


@pytest.mark.parametrize("weights", ["gaussian", "orthogonal"])
def test_equinox_network_follows_the_mean_field_length_map(weights):
    """The same forward-length check on an Equinox model (float32) re-initialised by init_linear
    (weights (fan_out, fan_in)); a LayerNorm in the model keeps its parameters. Width 500 with 256
    inputs (XLA's CPU QR is slow on a busy machine): per-network s.d. of q^l ≲ 1 %, so the mean of 3 is
    still within Q_TOL by > 5 s.d."""
    eqx = pytest.importorskip("equinox")
    import jax
    import jax.numpy as jnp

    from sigprop.init.jax_ import init_linear

    q = np.zeros(DEPTH + 1)
    width, batch = 500, 256
    for seed in range(NETS):
        keys = jax.random.split(jax.random.key(seed), DEPTH + 2)
        layers = [eqx.nn.Linear(width, width, dtype=jnp.float32, key=k) for k in keys[:DEPTH]]
        model = (layers, eqx.nn.LayerNorm(width))
        model = init_linear(model, SW2, SB2, key=keys[DEPTH], weights=weights)
        assert np.array_equal(model[1].weight, np.ones(width))
        x = jax.random.normal(keys[DEPTH + 1], (batch, width), dtype=jnp.float32)
        z = x * jnp.sqrt(Q0 / jnp.mean(x**2, axis=1, keepdims=True))
        qs = [float(jnp.mean(z**2))]
        for layer in model[0]:
            z = jax.vmap(layer)(jnp.tanh(z))
            qs.append(float(jnp.mean(z**2)))
        q += np.array(qs) / NETS
    _check_trajectory(q)
