"""The trainability experiment: training step against independent references, the physics at a
small size, chunking / Dask / resume invariance, files, and clear errors for bad settings."""

import functools
import math
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sigprop import sweep as sw
from sigprop import trainability as tr
from sigprop.errors import InvalidParameterError

# A tiny sweep: 2 depths × 3 σ_w² × 2 replicas, a few SGD steps (seconds to compile and run).
SMALL = tr.TrainabilitySpec(depths=(2, 5), sigma_w2=(1.0, 1.76, 3.0), sigma_b2=0.05, width=16, steps=12, lr=0.05,
                            batch=32, seed=3, seeds=2)


@pytest.fixture(scope="module")
def reference():
    """The tiny sweep in process, one chunk per depth, no files."""
    return tr.run(SMALL)


def assert_same(a: tr.TrainabilityResult, b: tr.TrainabilityResult) -> None:
    np.testing.assert_array_equal(a.accuracy_seeds, b.accuracy_seeds)
    np.testing.assert_array_equal(a.loss_seeds, b.loss_seeds)
    np.testing.assert_array_equal(a.finite_seeds, b.finite_seeds)


# ----------------------------------------------------------------------------------------------
# the network and the SGD step against an independent NumPy implementation (float64)
# ----------------------------------------------------------------------------------------------


def np_loss(p, x, y):
    """Mean softmax cross-entropy of the network, written out layer by layer in NumPy."""
    h = np.tanh(x @ p[0] + p[1])
    for w, b in zip(p[2], p[3], strict=True):
        h = np.tanh(h @ w + b)
    logits = h @ p[4] + p[5]
    m = logits.max(axis=1, keepdims=True)
    lse = m[:, 0] + np.log(np.exp(logits - m).sum(axis=1))
    return np.mean(lse - logits[np.arange(len(y)), y])


def np_grad(p, x, y, eps=1e-6):
    """Central finite differences of :func:`np_loss`, one parameter at a time."""
    p = [np.array(a, dtype=np.float64) for a in p]
    grads = []
    for a in p:
        g = np.zeros_like(a)
        for i in np.ndindex(a.shape):
            old = a[i]
            a[i] = old + eps
            up = np_loss(p, x, y)
            a[i] = old - eps
            down = np_loss(p, x, y)
            a[i] = old
            g[i] = (up - down) / (2 * eps)
        grads.append(g)
    return grads


def tiny_problem(seed=0, n=12, d=3):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)), rng.integers(0, tr.N_CLASSES, size=n).astype(np.int32)


def test_init_variances_are_sigma_w2_over_fan_in():
    """W ~ N(0, σ_w²/n_in), b ~ N(0, σ_b²): empirical variances of a wide draw, and common random
    numbers (σ_w² = 4 gives exactly twice the weights of σ_w² = 1)."""
    key = jax.random.key(0)
    p1 = tr.init_params(key, 1.0, 0.09, 4, 256, 64, 10, jnp.float64)
    p4 = tr.init_params(key, 4.0, 0.09, 4, 256, 64, 10, jnp.float64)
    assert float(jnp.var(p1.w_in)) == pytest.approx(1.0 / 64, rel=0.03)
    assert float(jnp.var(p1.w)) == pytest.approx(1.0 / 256, rel=0.01)
    assert float(jnp.var(p1.b)) == pytest.approx(0.09, rel=0.1)
    assert p1.w.shape == (3, 256, 256) and p1.w_out.shape == (256, 10)
    np.testing.assert_allclose(p4.w, 2.0 * p1.w, rtol=1e-15)
    np.testing.assert_array_equal(p4.b, p1.b)


def test_forward_and_loss_match_numpy():
    """logits and ℓ of the lax.scan network equal the layer-by-layer NumPy loop."""
    x, y = tiny_problem()
    p = tr.init_params(jax.random.key(1), 1.8, 0.05, 4, 7, 3, 10, jnp.float64)
    loss = float(tr.cross_entropy(p, jnp.asarray(x), jnp.asarray(y)))
    assert loss == pytest.approx(float(np_loss(p, x, y)), rel=1e-13)


def test_vmapped_gradient_matches_finite_differences():
    """∇ℓ of three networks at once (vmap of jax.grad) against NumPy central differences, per network."""
    x, y = tiny_problem(1)
    keys = jax.random.split(jax.random.key(2), 3)
    sw2 = jnp.array([1.0, 1.76, 3.0])
    init = jax.vmap(lambda k, w: tr.init_params(k, w, 0.05, 3, 5, 3, 10, jnp.float64))
    params = init(keys, sw2)
    grads = jax.vmap(jax.grad(tr.cross_entropy), in_axes=(0, None, None))(params, jnp.asarray(x), jnp.asarray(y))
    for i in range(3):
        p_i = [np.asarray(a[i]) for a in params]
        reference = np_grad(p_i, x, y)
        for g, ref in zip(grads, reference, strict=True):
            np.testing.assert_allclose(np.asarray(g[i]), ref, rtol=1e-6, atol=1e-9)


def test_sgd_matches_a_plain_loop_of_finite_difference_steps():
    """Three SGD steps of the lax.scan trainer = θ ← θ − η·(finite-difference ∇ℓ) on the same minibatches."""
    x, y = tiny_problem(2, n=20)
    key, lr, batch = jax.random.key(5), 0.3, 6
    p0 = tr.init_params(jax.random.key(4), 1.5, 0.05, 2, 4, 3, 10, jnp.float64)
    out = tr.sgd(p0, jnp.asarray(x), jnp.asarray(y), key, lr, 3, batch)
    p = [np.asarray(a, dtype=np.float64) for a in p0]
    for t in range(3):
        idx = np.asarray(tr.batch_indices(key, t, batch, len(y)))
        p = [a - lr * g for a, g in zip(p, np_grad(p, x[idx], y[idx]), strict=True)]
    for a, ref in zip(out, p, strict=True):
        np.testing.assert_allclose(np.asarray(a), ref, rtol=1e-7, atol=1e-9)


def test_train_cells_equals_one_network_at_a_time():
    """The compiled, device-split, vmapped path gives each cell what train_network gives it alone."""
    x, y = tr.digits()
    kw = dict(sigma_b2=0.05, width=16, steps=5, lr=0.05, batch=32, seed=1, dtype="float32")
    got = tr.train_cells(3, [1.2, 2.5, 3.5], [0, 1, 0], cell_batch=2, **kw)
    one = jax.jit(functools.partial(tr.train_network, depth=3, width=16, steps=5, batch=32, dtype=jnp.float32))
    for i, (w, r) in enumerate([(1.2, 0), (2.5, 1), (3.5, 0)]):
        acc, loss, finite = one(jnp.asarray(x, jnp.float32), jnp.asarray(y), w, r, 0.05, 0.05, 1)
        assert bool(finite) and got["finite"][i] == 1.0
        assert got["accuracy"][i] == pytest.approx(float(acc), abs=2 / len(y))
        assert got["loss"][i] == pytest.approx(float(loss), rel=1e-4)


def test_non_finite_network_counts_as_untrained():
    """A network whose parameters overflowed (SGD diverged) classifies nothing: accuracy 0, loss inf."""
    x, y = tiny_problem()
    p = tr.init_params(jax.random.key(0), 1.0, 0.05, 2, 4, 3, 10, jnp.float64)
    acc, loss, finite = tr.evaluate(p._replace(w_out=p.w_out.at[0, 0].set(jnp.nan)), jnp.asarray(x), jnp.asarray(y))
    assert (float(acc), float(loss), bool(finite)) == (0.0, math.inf, False)
    acc, loss, finite = tr.evaluate(p, jnp.asarray(x), jnp.asarray(y))
    assert bool(finite) and float(loss) == pytest.approx(float(np_loss(p, x, y)), rel=1e-13)


# ----------------------------------------------------------------------------------------------
# the physics: trainable inside 6ξ_c, untrainable far outside it
# ----------------------------------------------------------------------------------------------


def test_critical_shallow_trains_and_deep_ordered_does_not():
    """Depth 10 at σ_w² ≈ critical (6ξ_c = ∞) fits the digits; depth 60 at σ_w² = 1 (6ξ_c ≈ 22,
    deep in the ordered phase, c^l → 1) stays near chance (0.1)."""
    r = tr.trainability([10, 60], [1.0, 1.76], 0.05, width=32, steps=150, lr=0.05, batch=64, seed=0)
    assert r.six_xi_c[0] == pytest.approx(21.8, abs=0.2) and r.six_xi_c[1] > 1000
    assert r.accuracy[0, 1] > 0.85  # depth 10, near-critical (0.94 measured; chance is 0.1)
    assert r.accuracy[1, 0] < 0.25  # depth 60 ≈ 2.8 · 6ξ_c, ordered (0.10 measured)
    assert r.critical_sigma_w2 == pytest.approx(1.76095, abs=1e-4)


# ----------------------------------------------------------------------------------------------
# chunking, Dask and resume
# ----------------------------------------------------------------------------------------------


def test_results_do_not_depend_on_chunking(reference):
    """One chunk per depth, or one cell per chunk: the same bits in every cell."""
    assert_same(tr.run(SMALL, chunks=6), reference)


def test_local_cluster_matches_in_process(reference, tmp_path):
    """A real distributed.LocalCluster (2 in-process workers, 1 thread each), reached by its address
    as with ``--scheduler ADDRESS`` or through a Client, gives the same bits as the in-process run."""
    from distributed import Client, LocalCluster

    with (
        LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):
        by_address = tr.run(SMALL, scheduler=cluster.scheduler_address, chunks=2, out_dir=tmp_path / "a")
        by_client = tr.run(SMALL, scheduler=client, chunks=3)
        assert client.status == "running"  # a Client passed in is left open
    assert_same(by_address, reference)
    assert_same(by_client, reference)
    assert by_address.computed_cells == SMALL.n_cells
    assert len(list((tmp_path / "a" / sw.CHUNK_DIR).glob("*.npz"))) == 4


def test_resume_computes_only_missing_chunks(reference, tmp_path, monkeypatch):
    """Delete one chunk file: the rerun trains that chunk only, loads the rest, and gives the same bits."""
    calls = []
    real = tr.train_chunk

    def counting(spec, chunk):
        calls.append(chunk.cells)
        return real(spec, chunk)

    monkeypatch.setattr(tr, "train_chunk", counting)
    first = tr.run(SMALL, out_dir=tmp_path, chunks=2)
    assert len(calls) == 4
    files = sorted((tmp_path / sw.CHUNK_DIR).glob("chunk-*.npz"))
    victim = files[1]
    with np.load(victim) as data:
        lost = tuple(data["cells"].tolist())
    victim.unlink()
    calls.clear()
    second = tr.run(SMALL, out_dir=tmp_path, chunks=2)
    assert calls == [lost]
    assert second.computed_cells == len(lost) and second.loaded_cells == SMALL.n_cells - len(lost)
    assert_same(first, reference)
    assert_same(second, reference)
    calls.clear()
    assert_same(tr.run(SMALL, out_dir=tmp_path, chunks=3), reference)  # all loaded, whatever the chunking
    assert calls == []


def test_interrupted_sweep_resumes(reference, tmp_path, monkeypatch):
    """A sweep that dies in its third chunk keeps the two finished ones; the rerun trains the other two."""
    calls = []
    real = tr.train_chunk

    def failing(spec, chunk):
        calls.append(chunk.cells)
        if len(calls) == 3:
            raise RuntimeError("interrupted")
        return real(spec, chunk)

    monkeypatch.setattr(tr, "train_chunk", failing)
    with pytest.raises(RuntimeError, match="interrupted"):
        tr.run(SMALL, out_dir=tmp_path, chunks=2)
    assert len(list((tmp_path / sw.CHUNK_DIR).glob("chunk-*.npz"))) == 2
    assert not list((tmp_path / sw.CHUNK_DIR).glob(".*tmp"))  # no half-written files left
    calls.clear()
    monkeypatch.setattr(tr, "train_chunk", lambda spec, chunk: calls.append(chunk.cells) or real(spec, chunk))
    got = tr.run(SMALL, out_dir=tmp_path, chunks=2)
    assert len(calls) == 2 and got.computed_cells == got.loaded_cells == SMALL.n_cells // 2
    assert_same(got, reference)


def test_other_parameters_in_the_same_directory_are_refused(tmp_path, monkeypatch):
    """A directory holding a sweep with steps = 12 refuses one with steps = 13, naming the difference."""
    monkeypatch.setattr(tr, "train_chunk", lambda spec, chunk: dict.fromkeys(tr.FIELDS, np.zeros(len(chunk.cells))))
    tr.run(SMALL, out_dir=tmp_path)
    other = tr.TrainabilitySpec(**{**SMALL.__dict__, "steps": 13})
    with pytest.raises(sw.SweepMismatchError, match=r"steps: 12 → 13"):
        tr.run(other, out_dir=tmp_path)
    (tmp_path / sw.MANIFEST).unlink()
    with pytest.raises(sw.SweepMismatchError, match=r"manifest\.json is missing"):
        tr.run(SMALL, out_dir=tmp_path)


def test_atomic_write_leaves_no_partial_file(tmp_path):
    """A writer that fails midway leaves neither the target nor its temporary file behind."""

    def broken(f):
        f.write(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        sw.write_atomic(tmp_path / "x.npz", broken)
    assert list(tmp_path.iterdir()) == []


def test_dask_is_not_imported_with_sigprop():
    """``import sigprop`` (and the trainability module) load neither dask nor distributed."""
    code = ("import sys, sigprop, sigprop.trainability, sigprop.sweep; "
            "assert not {'dask', 'distributed'} & set(sys.modules), sorted(sys.modules)")
    subprocess.run([sys.executable, "-c", code], check=True)


# ----------------------------------------------------------------------------------------------
# agreement with 6ξ_c, files
# ----------------------------------------------------------------------------------------------


def synthetic_result(accuracy, six_xi_c, depths=(10, 20, 40), sigma_w2=(1.0, 2.0)):
    spec = tr.TrainabilitySpec(depths=depths, sigma_w2=sigma_w2)
    acc = np.asarray(accuracy, dtype=float)[..., None]
    return tr.TrainabilityResult(spec, acc, np.ones_like(acc), np.ones_like(acc, dtype=bool), np.asarray(six_xi_c),
                                 1.76, np.linspace(1, 2, 5), np.full(5, 30.0))


def test_agreement_counts_cells_by_hand():
    """6ξ_c = (15, 25) at depths (10, 20, 40): inside L ≤ 6ξ_c are (10, σ₁), (10, σ₂), (20, σ₂), of which
    2 train; outside 3 cells, 1 trains; far outside (L > 1.5·6ξ_c): (40, σ₁), (40, σ₂), none trains.
    Deepest trained: 20 and 10, i.e. 20/15 and 10/25 of 6ξ_c (median 0.867)."""
    r = synthetic_result([[0.9, 0.95], [0.6, 0.2], [0.1, 0.3]], six_xi_c=[15.0, 25.0])
    a = tr.agreement(r, threshold=0.5)
    assert (a.inside_cells, a.outside_cells, a.far_cells) == (3, 3, 2)
    assert a.inside_trained == pytest.approx(2 / 3) and a.outside_trained == pytest.approx(1 / 3)
    assert a.far_trained == 0.0 and a.agreement == pytest.approx(4 / 6)
    np.testing.assert_array_equal(a.deepest_trained, [20.0, 10.0])
    assert a.boundary_ratio == pytest.approx((20 / 15 + 10 / 25) / 2)
    assert "67% of the 3 cells with L ≤ 6ξ_c train" in a.summary()
    with pytest.raises(InvalidParameterError, match="threshold"):
        tr.agreement(r, threshold=1.5)


def test_outputs_png_npz_csv(reference, tmp_path):
    """The figure is a small PNG; the npz holds the grids; the CSV has one row per (depth, σ_w²)."""
    paths = tr.write_outputs(reference, tmp_path)
    assert paths["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and paths["png"].stat().st_size < 200_000
    with np.load(paths["npz"]) as data:
        assert data["accuracy"].shape == (2, 3) and data["accuracy_seeds"].shape == (2, 3, 2)
        np.testing.assert_array_equal(data["six_xi_c"], reference.six_xi_c)
    lines = paths["csv"].read_text().splitlines()
    assert lines[0] == "depth,sigma_w2,train_accuracy,loss,six_xi_c" and len(lines) == 1 + 6
    row = [float(v) for v in lines[1].split(",")]
    assert row[:3] == [2.0, 1.0, reference.accuracy[0, 0]]


# ----------------------------------------------------------------------------------------------
# bad settings
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"depths": (0, 10)}, "depth must be an integer"),
        ({"depths": (10.5,)}, "depth must be an integer"),
        ({"depths": ()}, "depths must be a non-empty"),
        ({"depths": (10, 10)}, "distinct"),
        ({"sigma_w2": (0.0, 1.0)}, "σ_w² must be a positive"),
        ({"sigma_w2": (-1.0,)}, "σ_w² must be a positive"),
        ({"sigma_w2": (float("nan"),)}, "σ_w² must be a positive"),
        ({"sigma_b2": -0.1}, "σ_b² must be a non-negative"),
        ({"width": 2}, "width must be an integer in"),
        ({"width": 10**6}, "width must be an integer in"),
        ({"steps": 0}, "steps must be an integer"),
        ({"lr": 0.0}, "learning rate must be in"),
        ({"lr": float("inf")}, "learning rate must be in"),
        ({"batch": 0}, "batch must be an integer"),
        ({"batch": 5000}, "batch must be an integer"),
        ({"seeds": 0}, "seeds must be an integer"),
        ({"dtype": "float16"}, "dtype must be one of"),
        ({"depths": (1000,), "width": 4096}, "GiB to train"),
    ],
)
def test_bad_settings_are_refused(change, message):
    with pytest.raises(InvalidParameterError, match=message):
        tr.TrainabilitySpec(**{**SMALL.__dict__, **change})


def test_bad_chunks_and_scheduler_are_refused():
    with pytest.raises(InvalidParameterError, match="chunks must be an integer"):
        tr.plan(SMALL, 0)
    with pytest.raises(InvalidParameterError, match="scheduler must be"):
        tr.run(SMALL, scheduler=3)
