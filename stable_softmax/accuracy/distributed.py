r"""The accuracy sweep on Dask (``stable-softmax report --cluster local | --scheduler ADDRESS``).

Needs the optional extra: ``pip install "stable_softmax[distributed]"``.
Dask is imported inside the functions of this module only, so importing it
costs nothing and the local sweep (:func:`.sweep.run_sweep`) never imports Dask.

The tasks
---------
One task per point of the grid: the cells that share inputs and differ only
in ``method`` (:func:`.sweep.group_cells`). The task regenerates the inputs
from the seed, computes the correctly rounded reference once, runs every
method's kernel and measures it (:func:`.sweep.run_group_recorded`). Inputs
never travel; records and, where needed, reference rows come back. (One task
per method would compute or ship the reference once per method, and a Dask
task costs about 3.5 ms of overhead on the 2-core development machine, as
much as a small cell.) Tasks are submitted largest first, at most
``max(8, 4 x threads)`` at a time, so the scheduler never holds the whole grid.

Reference rows and the caches
-----------------------------
Every machine has its own on-disk reference cache (:mod:`reference._cache`).
When the workers write into the client's cache directory (a
``LocalCluster``, or workers on this host with the same
``STABLE_SOFTMAX_REFERENCE_CACHE``) nothing is copied. Otherwise the client
sends, with each reference task, the rows of that group it already has
(``reference._cache.lookup_only``), the worker stores them in its cache
before computing, and the worker reports the rows it computed or found in its
own cache so the client can store them (``reference._cache.recording``,
``store_entries``). A rerun anywhere, local or on any cluster, thus resumes
from every row the client has seen.

Failures
--------
A cell that raises on a worker gets an error record
(:func:`.sweep.error_record`, via :func:`.sweep.run_group_recorded`) and the
other cells of its task are still measured. Tasks running on a worker that
dies are rescheduled by the scheduler (up to Dask's
``distributed.scheduler.allowed-failures`` times, default 3; after that their
cells are recorded with ``KilledWorker``); a task that fails in any other way
outside the cells is retried ``retries`` times (:data:`RETRIES`) before its
cells are recorded with the error. Losing the scheduler stops the sweep with
:class:`DistributedError`; the finished rows are in the client's cache.
"""

from __future__ import annotations

import importlib.util
import socket
import urllib.parse
import uuid
from collections.abc import Callable

import numpy as np

import reference
from reference import _cache

from . import sweep
from .sweep import Cell

__all__ = [
    "CONNECT_TIMEOUT",
    "RETRIES",
    "DaskSweep",
    "DistributedError",
    "available",
    "check_address",
    "cached_entries",
    "run_group_with_reference_export",
]

#: Times a task that raised outside its cells (which record their own errors) is run again.
RETRIES = 2
#: How long to try to reach a scheduler given by address.
CONNECT_TIMEOUT = "10s"
INSTALL_HINT = 'pip install "stable_softmax[distributed]"'


class DistributedError(RuntimeError):
    """The Dask path cannot start or cannot go on; the message is one line for the command line."""


#: Schemes of ``distributed``'s communication backends.
SCHEMES = ("tcp", "tls", "inproc", "ucx", "ws", "wss")


def check_address(address: str) -> str:
    """``address`` if it is well formed as a scheduler address, else ValueError saying why.

    A syntax check only (Dask is not imported, nothing is contacted), so a
    typo fails at once instead of after the connect timeout: ``HOST:PORT``
    (TCP) or ``SCHEME://HOST:PORT`` with a scheme of :data:`SCHEMES` and a
    port from 1 to 65535.
    """
    hint = "pass SCHEME://HOST:PORT, e.g. tcp://127.0.0.1:8786"
    text = address if "://" in address else f"tcp://{address}"
    try:
        parts = urllib.parse.urlsplit(text)
        port = parts.port
    except ValueError as err:
        raise ValueError(f"{address!r} is not a scheduler address ({err}); {hint}") from None
    if parts.scheme not in SCHEMES:
        raise ValueError(
            f"{address!r} has the unknown scheme {parts.scheme!r} "
            f"(known: {', '.join(SCHEMES)}); {hint}"
        )
    if parts.scheme != "inproc" and (not parts.hostname or port is None or port == 0):
        raise ValueError(f"{address!r} is not a scheduler address (no host and port); {hint}")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"{address!r} is not a scheduler address (extra text); {hint}")
    return address


def available() -> bool:
    """Whether dask and distributed are importable (the ``distributed`` extra)."""
    return all(importlib.util.find_spec(name) is not None for name in ("dask", "distributed"))


# ---------------------------------------------------------------- worker side


def _location() -> tuple[str, str, str]:
    """``(host, reference cache directory, package version)`` of this process."""
    import stable_softmax

    return socket.gethostname(), str(reference.cache_dir().resolve()), stable_softmax.__version__


def run_group_with_reference_export(
    cells: list[Cell], shipped: dict, client_location: tuple, engine: str | None = None
) -> tuple:
    """The Dask task: ``(records, {cache key: reference row} for the client, engine stats)``.

    ``shipped`` (rows the client had, key -> row) goes into this worker's
    cache first. The rows returned are those the group loaded or computed
    here, less the shipped ones; none when this worker writes into the
    client's own cache directory (``client_location``, see :func:`_location`).
    ``engine`` and the stats are those of :func:`.sweep.run_group_tallied`.
    """
    if shipped:
        _cache.store_entries(shipped)
    with np.errstate(all="ignore"), _cache.recording() as entries:
        records, stats = sweep.run_group_tallied(cells, engine)
    if _location()[:2] == tuple(client_location[:2]):
        return records, {}, stats
    return records, {key: row for key, row in entries.items() if key not in shipped}, stats


# ---------------------------------------------------------------- client side


def cached_entries(cell: Cell) -> dict[str, np.ndarray]:
    """The reference rows of ``cell``'s inputs that this machine's cache holds (key -> row)."""
    func = getattr(reference, cell.function)
    with np.errstate(all="ignore"), _cache.recording() as entries, _cache.lookup_only():
        for row in sweep.cell_inputs(cell):
            try:
                func(row[None, :], beta=cell.beta, base=cell.base_arg)
            except (_cache.CacheMiss, reference.PrecisionLimitError):
                pass
    return entries


class DaskSweep:
    """A Dask client to run sweeps on: connected to ``scheduler``, or owning a ``LocalCluster``.

    Parameters
    ----------
    scheduler : str, optional
        Address of a running ``dask.distributed`` scheduler, e.g.
        ``"tcp://host:8786"``.
    local_workers : int, optional
        Without ``scheduler``: start a ``LocalCluster`` of this many worker
        processes with one thread each (the reference is pure Python, so
        processes, not threads, give parallelism); default all cores.
    connect_timeout : str, optional
        How long to try to reach ``scheduler`` (default :data:`CONNECT_TIMEOUT`).
    **cluster_options
        Passed to ``LocalCluster``.

    Raises
    ------
    DistributedError
        Dask is not installed, the scheduler cannot be reached, or the
        workers cannot import this package (or run another version of it).
    """

    def __init__(
        self,
        scheduler: str | None = None,
        local_workers: int | None = None,
        *,
        connect_timeout: str | None = None,
        **cluster_options,
    ):
        if not available():
            raise DistributedError(f"running on Dask needs the optional extra: {INSTALL_HINT}")
        from distributed import Client, LocalCluster

        self.cluster = None
        self.rows_sent = 0
        self.rows_received = 0
        if scheduler is not None:
            try:
                # An unknown scheme is refused before a Client exists: a half-built
                # one hangs at exit.
                from distributed.comm import parse_address
                from distributed.comm.registry import get_backend

                get_backend(parse_address(scheduler)[0])
                self.client = Client(
                    scheduler, timeout=connect_timeout or CONNECT_TIMEOUT, set_as_default=False
                )
            except (OSError, TimeoutError, ValueError) as err:
                text = " ".join(str(err).split())
                raise DistributedError(
                    f"cannot reach Dask scheduler at {scheduler} ({text})"
                ) from None
            self.name = f"Dask scheduler {scheduler}"
        else:
            options = {
                "n_workers": local_workers or sweep.default_workers(),
                "threads_per_worker": 1,
                "processes": True,
                **cluster_options,
            }
            self.cluster = LocalCluster(**options)
            self.client = Client(self.cluster, set_as_default=False)
            self.name = "Dask LocalCluster"
        try:
            self._check_workers()
        except BaseException:
            self.close()
            raise

    def _check_workers(self) -> None:
        """Learn where the workers keep their cache; refuse workers without this package version."""
        self.location = _location()
        try:
            found = self.client.run(_location)
        except Exception as err:
            raise DistributedError(
                f"the Dask workers cannot run stable_softmax ({type(err).__name__}: {err}); "
                "install the same version of it on every worker"
            ) from None
        versions = {info[2] for info in found.values()}
        if versions - {self.location[2]}:
            raise DistributedError(
                f"the Dask workers run stable_softmax {', '.join(sorted(versions))}, this machine "
                f"{self.location[2]}; install the same version everywhere"
            )
        # Ship cached rows unless every worker already reads this machine's cache.
        self.ship = not found or any(
            tuple(info[:2]) != self.location[:2] for info in found.values()
        )

    @property
    def threads(self) -> int:
        """Threads of the cluster's workers now."""
        return sum(self.client.nthreads().values())

    def describe(self) -> str:
        """One line: what the sweep runs on."""
        workers = self.client.nthreads()
        text = f"{self.name}: {len(workers)} worker(s), {sum(workers.values())} thread(s)"
        if not workers:
            text += " (tasks wait until workers join)"
        if self.ship:
            text += "; reference rows are copied between this machine's cache and the workers'"
        return text

    def run(
        self,
        cells: list[Cell],
        progress: Callable[[int], None] | None = None,
        retries: int = RETRIES,
        *,
        engine: str | None = None,
        tally: sweep.EngineTally | None = None,
    ) -> list[dict]:
        """Records of all ``cells``, in their order.

        ``progress(k)`` is called as each task's ``k`` cells finish; ``engine``
        and ``tally`` as in :func:`.sweep.run_sweep`. On ``KeyboardInterrupt``
        the outstanding tasks are cancelled and the interrupt is re-raised.
        """
        from distributed import as_completed

        client = self.client
        groups = iter(sorted(sweep.group_cells(cells), key=sweep.group_cost, reverse=True))
        groups_of: dict = {}  # future -> its group of cells
        done: dict[Cell, dict] = {}
        queue = as_completed(loop=client.loop)

        def submit_next() -> bool:
            group = next(groups, None)
            if group is None:
                return False
            try:
                shipped = cached_entries(group[0]) if self.ship else {}
            except Exception:
                shipped = {}  # the task meets the same error and records it
            self.rows_sent += len(shipped)
            future = client.submit(
                run_group_with_reference_export,
                group,
                shipped,
                self.location,
                engine,
                key=f"cells-{uuid.uuid4().hex}",
                pure=False,
                retries=retries,
            )
            groups_of[future] = group
            queue.add(future)
            return True

        def fill() -> None:
            window = max(8, 4 * self.threads)
            while len(groups_of) < window and submit_next():
                pass

        try:
            fill()
            for batch in queue.batches():
                for future in batch:
                    self._check_alive(future)
                ok = [f for f in batch if f.status == "finished"]
                results = dict(
                    zip((f.key for f in ok), client.gather(ok))
                )  # one round trip per batch
                for future in batch:
                    group = groups_of.pop(future)
                    if future.key in results:
                        records, entries, stats = results[future.key]
                        self.rows_received += _cache.store_entries(entries)
                        if tally is not None:
                            tally.add(stats)
                    else:
                        error = future.exception()
                        records = [sweep.error_record(cell, error) for cell in group]
                    done.update(zip(group, records))
                    if progress is not None:
                        progress(len(group))
                fill()
        except BaseException:
            if client.status == "running":
                client.cancel(list(groups_of))
            raise
        return [done[cell] for cell in cells]

    def _check_alive(self, future) -> None:
        if future.status == "cancelled":
            raise DistributedError(
                f"lost the Dask scheduler ({self.name}); finished reference rows are in "
                f"{reference.cache_dir()}: run the same command again to resume"
            )

    def close(self) -> None:
        """Close the client and the LocalCluster it started, if any."""
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()

    def __enter__(self) -> DaskSweep:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
