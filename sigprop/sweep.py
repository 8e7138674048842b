"""Chunked, resumable sweeps over a grid of independent cells, in process or on Dask distributed.

A sweep is a list of :class:`Chunk` s (each a set of flat cell indices that share static shapes)
and a picklable function ``compute(chunk) -> {field: array of len(chunk.cells)}``. Each chunk is
one task. With an output directory the sweep is resumable:

* ``manifest.json`` records the sweep's parameters. A directory whose manifest differs raises
  :class:`SweepMismatchError` naming the parameters that differ, so results of two sweeps are never
  mixed silently.
* every finished chunk is written as ``chunks/chunk-*.npz`` (temporary file + ``os.replace``, so a
  chunk file is either whole or absent) holding its cell indices, its fields and the manifest's
  hash;
* on a restart the cells found in chunk files are loaded, and only the cells still missing are
  computed. Resuming works per cell, so it does not matter whether the chunking changed.
* every loaded chunk is validated: a file that does not read (truncated, garbage), whose cells are
  not distinct indices of this grid, whose fields are not one float per cell, or that holds a NaN
  (no field is ever NaN: a diverged network's loss is inf) is renamed ``*.npz.bad``, reported with
  a warning, and its cells are computed again. A chunk of another sweep (manifest hash differs)
  and an unreadable or non-object manifest raise :class:`SweepMismatchError` instead: those files
  are not ours to replace.

Schedulers: ``None`` runs the chunks one after another in this process; ``"local"`` starts a
``distributed.LocalCluster`` (one single-threaded worker process per core) and closes it after; an
address (``"tcp://host:8786"``) connects to a running scheduler; a ``distributed.Client`` is used as
it is (and left open). Results are written by this process as the tasks finish, so workers need no
shared file system. Dask is imported only here, and only when a scheduler is asked for.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import sys
import tempfile
import warnings
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sigprop.errors import InvalidParameterError, SigpropError
from sigprop.validation import shown

MANIFEST = "manifest.json"
CHUNK_DIR = "chunks"
SCRATCH_DIR = "dask-scratch"
"""Where a local Dask cluster's workers spill and keep their files, inside the sweep's directory."""


class SweepMismatchError(SigpropError):
    """The output directory holds a sweep with other parameters (or unreadable files)."""


@dataclass(frozen=True)
class Chunk:
    """One task: flat indices of cells that share a group (static shapes, e.g. one depth).

    ``cost`` only orders the work (costly chunks first, so the last task to finish is a cheap one).
    """

    group: int
    cells: tuple[int, ...]
    cost: float = 1.0

    @property
    def name(self) -> str:
        """A file name unique to this set of cells."""
        digest = hashlib.sha1(np.asarray(self.cells, dtype=np.int64).tobytes()).hexdigest()[:10]
        return f"chunk-g{self.group:04d}-c{self.cells[0]:06d}-n{len(self.cells):05d}-{digest}.npz"


@dataclass(frozen=True)
class SweepOutcome:
    """Per-cell fields (arrays of length ``n_cells``) and how many cells were computed or loaded."""

    fields: dict[str, np.ndarray]
    computed_cells: int
    loaded_cells: int
    computed_chunks: int


def split_chunks(group: int, cells: Sequence[int], pieces: int, cost_per_cell: float = 1.0) -> list[Chunk]:
    """Cut one group's cells into ``pieces`` contiguous chunks (fewer if there are fewer cells)."""
    pieces = max(1, min(len(cells), pieces))
    return [
        Chunk(group, tuple(int(c) for c in part), cost_per_cell * len(part))
        for part in np.array_split(np.asarray(cells, dtype=np.int64), pieces)
    ]


def manifest_hash(manifest: dict) -> str:
    """SHA-256 of the manifest's canonical JSON (sorted keys): the identity of a sweep."""
    return hashlib.sha256(json.dumps(manifest, sort_keys=True).encode()).hexdigest()


def write_atomic(path: Path, write: Callable[[object], None]) -> None:
    """Call ``write(binary file)`` on a temporary file beside ``path``, then ``os.replace`` it there."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _differences(old: dict, new: dict) -> list[str]:
    keys = sorted(set(old) | set(new))
    return [f"{k}: {old.get(k, '<absent>')!r} → {new.get(k, '<absent>')!r}" for k in keys if old.get(k) != new.get(k)]


def prepare_directory(out_dir: str | os.PathLike, manifest: dict) -> Path:
    """Create ``out_dir`` with its manifest, or check that the manifest already there is the same.

    Raises:
      SweepMismatchError: the directory holds another sweep's manifest, or chunk files but no manifest.
    """
    root = Path(out_dir)
    root.mkdir(parents=True, exist_ok=True)
    (root / CHUNK_DIR).mkdir(exist_ok=True)
    path = root / MANIFEST
    canonical = json.loads(json.dumps(manifest, sort_keys=True))
    if path.exists():
        try:
            old = json.loads(path.read_text())
        except (OSError, ValueError) as err:
            raise SweepMismatchError(
                f"cannot read {path} ({str(err)[:80]}); delete it or choose another directory"
            ) from None
        if not isinstance(old, dict):
            raise SweepMismatchError(
                f"{path} is not a sweep manifest (a JSON {type(old).__name__}, not an object); "
                "delete it or choose another directory"
            )
        diff = _differences(old, canonical)
        if diff:
            raise SweepMismatchError(
                f"{root} holds a sweep with other parameters ({'; '.join(diff)}); "
                "choose a new output directory, or delete that one to start over"
            )
    else:
        if any((root / CHUNK_DIR).glob("chunk-*.npz")):
            raise SweepMismatchError(
                f"{root / CHUNK_DIR} holds chunk files but {path} is missing; choose a new directory"
            )
        text = json.dumps(canonical, indent=2, sort_keys=True).encode()
        write_atomic(path, lambda f: f.write(text))
    return root


class _BadChunk(Exception):
    """A chunk file of this sweep that cannot be used (the message says why)."""


def _read_chunk(path: Path, digest: str, n_cells: int, fields: Sequence[str]) -> tuple[np.ndarray, dict]:
    """The cells and fields of one chunk file, validated (see the module docstring).

    Raises:
      SweepMismatchError: the file belongs to another sweep.
      _BadChunk: the file is unreadable or its contents are not valid for this sweep.
    """
    try:
        with np.load(path) as data:
            stored = str(data["manifest_hash"])
            cells = np.asarray(data["cells"])
            values = {k: np.asarray(data[k]) for k in fields}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as err:
        raise _BadChunk(f"unreadable ({type(err).__name__}: {str(err)[:60]})") from None
    if stored != digest:
        raise SweepMismatchError(
            f"{path} belongs to another sweep (manifest hash differs); delete it or choose another directory"
        )
    if cells.ndim != 1 or cells.size == 0 or cells.dtype.kind not in "iu":
        raise _BadChunk(f"its cells are not a 1-D array of indices (shape {cells.shape}, dtype {cells.dtype})")
    if cells.min() < 0 or cells.max() >= n_cells or np.unique(cells).size != cells.size:
        raise _BadChunk(f"its cells are not distinct indices in [0, {n_cells})")
    for k, v in values.items():
        if v.shape != cells.shape or v.dtype.kind not in "biuf":
            raise _BadChunk(f"field {k!r} has shape {v.shape} and dtype {v.dtype}, not one number per cell "
                            f"({cells.size})")
        if np.isnan(v.astype(np.float64)).any():
            raise _BadChunk(f"field {k!r} holds NaN")
    return cells, {k: v.astype(np.float64) for k, v in values.items()}


def load_chunks(root: Path, digest: str, n_cells: int, fields: Sequence[str]) -> tuple[dict, np.ndarray]:
    """Fields of the cells already written under ``root/chunks`` (and a mask of which cells those are).

    Bad chunk files are renamed ``*.npz.bad`` with a warning, and their cells left to compute.

    Raises:
      SweepMismatchError: a chunk file belongs to another sweep.
    """
    values = {k: np.full(n_cells, np.nan) for k in fields}
    done = np.zeros(n_cells, dtype=bool)
    for path in sorted((root / CHUNK_DIR).glob("chunk-*.npz")):
        try:
            cells, chunk = _read_chunk(path, digest, n_cells, fields)
        except _BadChunk as why:
            bad = path.with_name(path.name + ".bad")
            os.replace(path, bad)
            warnings.warn(f"chunk file {path} is bad ({why}); moved to {bad.name}, its cells are computed again",
                          stacklevel=3)
            continue
        for k in fields:
            values[k][cells] = chunk[k]
        done[cells] = True
    return values, done


def _save_chunk(root: Path, chunk: Chunk, result: dict, digest: str) -> None:
    arrays = {k: np.asarray(v) for k, v in result.items()}
    arrays |= {"cells": np.asarray(chunk.cells, dtype=np.int64), "manifest_hash": np.array(digest)}
    write_atomic(root / CHUNK_DIR / chunk.name, lambda f: np.savez(f, **arrays))


@contextlib.contextmanager
def dask_client(scheduler, scratch: str | os.PathLike | None = None) -> Iterator:
    """A ``distributed.Client`` for ``"local"`` (a new LocalCluster), an address, or a Client itself.

    Clients and clusters made here are closed on exit; a Client passed in is left open. Each
    worker of the local cluster is one process with one thread and one XLA CPU device, so that the
    workers share the cores instead of each trying to use all of them. The local workers' scratch
    space goes in ``scratch`` (the sweep's own directory, not a shared ``/tmp/dask-scratch-space``
    that any user of the machine could plant files in), or in a private temporary directory.
    """
    from distributed import Client, LocalCluster

    if isinstance(scheduler, Client):
        yield scheduler
        return
    if scheduler == "local":
        workers = max(1, min(os.cpu_count() or 1, 8))
        env = {"SIGPROP_CPU_DEVICES": "1", "XLA_FLAGS": "--xla_force_host_platform_device_count=1"}
        with contextlib.ExitStack() as stack:
            if scratch is None:
                scratch = stack.enter_context(tempfile.TemporaryDirectory(prefix="sigprop-dask-"))
            cluster = stack.enter_context(
                LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                             env=env, local_directory=os.fspath(scratch)))
            yield stack.enter_context(Client(cluster))
        return
    if not isinstance(scheduler, str) or not scheduler:
        raise InvalidParameterError(f"scheduler must be None, 'local', an address or a Client, got {scheduler!r}")
    with Client(scheduler, timeout="30s") as client:
        yield client


class _NoBar:
    """Stands in for a tqdm bar when none is wanted."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        return None

    def update(self, n: int) -> None:
        pass


def _progress(total: int, done: int, desc: str, enabled: bool):
    """A tqdm bar over cells on stderr (tqdm is imported only when one is asked for)."""
    if not enabled:
        return _NoBar()
    from tqdm.auto import tqdm

    return tqdm(total=total + done, initial=done, desc=desc, unit="cell", file=sys.stderr, dynamic_ncols=True)


_ADDRESS = re.compile(r"^(?:[a-z][a-z0-9+.-]*://[^\s/][^\s]*|(?:\[[0-9a-fA-F:.]+\]|[A-Za-z0-9_.-]+):\d{1,5})$")
"""A scheduler address: ``protocol://...`` (``tcp://10.0.0.5:8786``, ``inproc://10.0.0.5/123/1``) or ``host:port``
(``localhost:8786``, ``[::1]:8786``)."""


def check_scheduler(scheduler) -> None:
    """Refuse a scheduler that is not None, ``"none"``, ``"local"``, an address or a Client.

    Called before anything is written, so that a typo never leaves a half-made output directory.

    Raises:
      InvalidParameterError: anything else (the message quotes at most 40 characters of it).

    >>> check_scheduler("tcp://127.0.0.1:8786")
    >>> check_scheduler("bogus")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    sigprop.errors.InvalidParameterError: scheduler must be 'local', 'none', an address ... got 'bogus'
    """
    if scheduler is None or scheduler in ("none", "local") or hasattr(scheduler, "submit"):
        return
    if isinstance(scheduler, str) and _ADDRESS.match(scheduler):
        port = scheduler.rsplit(":", 1)[-1]
        if "://" in scheduler or int(port) <= 65535:
            return
    raise InvalidParameterError(
        "scheduler must be 'local', 'none', an address (protocol://... or host:port) or a distributed.Client, "
        f"got {shown(scheduler)}"
    )


def run_sweep(
    compute: Callable[[Chunk], dict],
    chunks: Sequence[Chunk],
    fields: Sequence[str],
    n_cells: int,
    *,
    out_dir: str | os.PathLike | None = None,
    manifest: dict | None = None,
    scheduler=None,
    progress: bool = False,
    desc: str = "sweep",
) -> SweepOutcome:
    """Run ``compute`` on every chunk (skipping cells already in ``out_dir``) and gather the fields.

    Args:
      compute: picklable ``chunk -> {field: array (len(chunk.cells),)}``; must depend only on the cells.
      chunks: the plan; together they must cover cells 0 … n_cells − 1.
      fields: names of the per-cell results.
      n_cells: number of cells in the grid.
      out_dir: directory for the manifest and chunk files (None: keep nothing, no resume).
      manifest: JSON-serialisable sweep parameters (required with ``out_dir``).
      scheduler: None (in process), ``"local"``, a scheduler address, or a ``distributed.Client``.
      progress: show a tqdm bar (cells) on stderr.

    Raises:
      SweepMismatchError: ``out_dir`` holds a sweep with other parameters.
    """
    check_scheduler(scheduler)
    covered = np.zeros(n_cells, dtype=bool)
    for c in chunks:
        covered[list(c.cells)] = True
    if not covered.all():
        raise InvalidParameterError("the chunks do not cover every cell of the sweep")
    root = digest = None
    if out_dir is not None:
        if manifest is None:
            raise InvalidParameterError("a resumable sweep (out_dir) needs a manifest")
        root = prepare_directory(out_dir, manifest)
        digest = manifest_hash(json.loads(json.dumps(manifest, sort_keys=True)))
        values, done = load_chunks(root, digest, n_cells, fields)
    else:
        values, done = {k: np.full(n_cells, np.nan) for k in fields}, np.zeros(n_cells, dtype=bool)
    loaded = int(done.sum())
    todo = []
    for c in chunks:
        rest = tuple(i for i in c.cells if not done[i])
        if rest:
            todo.append(Chunk(c.group, rest, c.cost * len(rest) / len(c.cells)))
    todo.sort(key=lambda c: -c.cost)  # costly first
    computed = 0

    def store(chunk: Chunk, result: dict) -> None:
        nonlocal computed
        for k in fields:
            values[k][list(chunk.cells)] = np.asarray(result[k], dtype=np.float64)
        if root is not None:
            _save_chunk(root, chunk, result, digest)
        computed += 1

    with _progress(sum(len(c.cells) for c in todo), loaded, desc, progress) as bar:
        if scheduler is None or scheduler == "none":
            for chunk in todo:
                store(chunk, compute(chunk))
                bar.update(len(chunk.cells))
        elif todo:
            from distributed import as_completed

            with dask_client(scheduler, None if root is None else root / SCRATCH_DIR) as client:
                futures = {
                    client.submit(compute, c, pure=False, priority=int(c.cost)): c
                    for c in todo
                }
                try:
                    for fut in as_completed(futures):
                        store(futures[fut], fut.result())
                        bar.update(len(futures[fut].cells))
                finally:
                    client.cancel(list(futures))
    return SweepOutcome(values, computed_cells=int(n_cells - loaded), loaded_cells=loaded, computed_chunks=computed)
