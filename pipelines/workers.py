"""Processing worker processes: the CPU-bound stages (decode, extract, OCR, analysis, storage, indexing) of a crawl
run in child processes, so the crawler's reactor and the analysis each get a core instead of sharing one
interpreter lock.

One :class:`WorkerPool` per crawl process (``shared_pool``), shared by every crawler (source) of that process:
``Settings.processing_workers`` processes, each with one ``pipelines.process.Processor`` (model, rules, store,
indexer) built when it starts, so the model loads while the crawler already fetches. The calls are stateless (a
page's ``Prepared`` travels back to the crawler and with its images to the worker again), so any worker can take
any call. Step 1 (decode, extract, the unchanged check) has a pool of its own, ``Settings.prepare_workers``
processes with the store but no model (``Processor.for_prepare``: they start in well under a second), at a lower
CPU priority: the two stages of consecutive pages use two cores, and a parse killed at its budget restarts only
that pool, not the model's. The same pool reads a page's fetched images (OCR) before step 2: the model's worker
is the crawl's busiest process, and the OCR engine (~1 s to load) then never loads there. Guarantees (each pool):

* a worker dies with the crawl process (``PR_SET_PDEATHSIG`` on Linux: its parent is the crawl process's fork
  server, which the kernel kills in turn with the reactor's thread that started it, and that thread lives as long
  as the crawl process; with ``spawn``, that thread is the worker's own parent);
* a worker that dies (killed, out of memory, a crash in a C extension) breaks only the calls in flight: the pool
  is restarted and each such call is run once more; a call that breaks the new pool too raises
  :class:`WorkerDied` (the adapter records its pages as errors). A store write a dying worker had begun is rolled
  back by the database; one it had committed is found unchanged by the retry (one version per document);
* a call's time budget counts from the moment a worker starts it (workers stamp the start in shared memory), not
  from when it was queued; past it the pool is restarted (:meth:`WorkerPool.restart`: killing is the only way to
  stop a runaway parse) and the calls queued with it are run on the new pool.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import logging
import os
import resource
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from config import Settings
    from domain import PageItem
    from pipelines.process import Outcome, Prepared, Processor

log = logging.getLogger(__name__)
T = TypeVar("T")

# Calls in the pool at once (queued or running); their start stamps live in a ring of RING slots.
MAX_IN_FLIGHT = 32
RING = 4 * MAX_IN_FLIGHT
THREADS_PER_WORKER = 1
PREPARE_NICE = 5  # the prepare workers' niceness, added to the crawl process's
FORKSERVER_PRELOAD = ["pipelines.fork_preload"]  # imported once by the fork server (_context)


class WorkerDied(RuntimeError):
    """A processing worker process died twice while running the same call."""


def die_with_parent(parent_pid: int) -> None:
    """Linux: the kernel SIGKILLs this process when its parent dies (no orphan writing to the store behind the
    next run's back); elsewhere best effort only. The parent is the crawl process ``parent_pid`` itself or its
    fork server, which dies with the crawl process in turn (pipelines.fork_preload)."""
    ppid = os.getppid()
    try:
        import ctypes
        import signal

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != ppid:  # the parent died before prctl took effect
        os._exit(1)
    # forked by the fork server: that server must still be the crawl process's child (the crawl process may be gone
    # and the server reparented, or gone too and this process reparented, before prctl took effect)
    if ppid != parent_pid and _parent_of(ppid) != parent_pid:
        os._exit(1)


def _parent_of(pid: int) -> int | None:
    """The parent of process ``pid`` (Linux ``/proc``), None when unknown."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            return int(fh.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def _context() -> Any:
    """How worker processes start. Where available a fork server, started by the crawl process the first time a
    pool starts, loads what every worker needs once (``pipelines.fork_preload``: the processing code with
    SQLAlchemy, the store and the extractors, jieba's dictionary, the rule engine; ~1.5 s) and forks every worker
    from that: the model's worker, the prepare worker and each restart skip it, and nothing of the crawl process
    (its reactor, its threads) is inherited, as with ``spawn``, the fallback."""
    import multiprocessing

    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(FORKSERVER_PRELOAD)
    return ctx


# --- in the worker process ------------------------------------------------------------------------------------

_processor: Processor | None = None
_init_error: BaseException | None = None
_stamps: Any = None  # shared array of call start times (time.monotonic(), system-wide on Linux)


def _init_worker(
    settings: Settings, parent_pid: int, stamps: Any, build: bool = True, prepare_only: bool = False
) -> None:
    """ProcessPoolExecutor initializer: build the Processor now (the model loads while the crawler fetches;
    ``prepare_only``: the store alone, for a pool that only decodes and extracts). A failure is kept and raised
    by every call, with its real cause, rather than a bare broken pool."""
    global _processor, _init_error, _stamps
    die_with_parent(parent_pid)
    if prepare_only:
        # below the analysis worker and the crawler: on a busy machine the model's start-up and batches, the
        # slower stage, get the cores first (a crawl of 441 pages: 17.9 → 15.5 s median, bench A/B)
        os.nice(PREPARE_NICE)
    _stamps = stamps
    # One core per worker: torch's default of one OpenMP thread per core made the model ~6x slower on a loaded
    # 2-core machine (threads spinning against the crawler and each other); scale out with more workers instead.
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, str(THREADS_PER_WORKER))
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from pipelines import ocr

    ocr.THREADS = THREADS_PER_WORKER
    if not build:
        return
    try:
        from pipelines.process import Processor

        _processor = Processor.for_prepare(settings) if prepare_only else Processor.from_settings(settings)
    except BaseException as exc:  # noqa: BLE001 - reported by every call
        _init_error = exc
    else:
        atexit.register(_exit_fast)


def _exit_fast() -> None:
    """At a worker's normal exit: close the Processor's store (every page it handled is already committed),
    flush logging and the standard streams, and leave without the interpreter's teardown. Freeing the model,
    the jieba dictionary and torch's modules object by object took ~0.7 s of every crawl's end (measured with
    bench/pipeline_bench.py); the kernel frees the memory at once. Registered after the Processor is built, so
    it runs before the atexit handlers registered earlier (atexit is last in, first out): logging's own
    handler is among those skipped, hence the explicit shutdown."""
    import sys

    try:
        if _processor is not None:
            _processor.close()
    finally:
        logging.shutdown()
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):  # a closed or broken stream
                stream.flush()
        os._exit(0)


def _run(call_id: int, fn: Callable[..., T], *args: Any) -> T:
    if _stamps is not None:
        _stamps[call_id % RING] = time.monotonic()
    return fn(*args)


def _proc() -> Processor:
    if _processor is None:
        raise RuntimeError(f"处理进程初始化失败: {type(_init_error).__name__}: {_init_error}")
    return _processor


def _prepare(page: PageItem, run_id: int | None) -> Prepared | Outcome:
    return _proc().prepare(page, run_id)


def _read_images(prep: Prepared, images: dict[str, bytes]) -> Prepared:
    return _proc().read_images(prep, images)


def _finish_many(
    batch: list[tuple[Prepared, dict[str, bytes]]],
    run_id: int | None,
    source_meta: dict[str, tuple[str | None, str | None]],
) -> list[Outcome]:
    proc = _proc()
    proc.source_meta = source_meta
    return proc.finish_many(batch, run_id)


def _peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _vm_hwm_mb(pid: int) -> float | None:
    """Peak resident memory of process ``pid`` in MB (Linux ``/proc``), None where unavailable."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _fork_server_hwm_mb() -> float:
    """Peak resident memory of this process's fork server (it holds the processing code its workers share), 0
    without one. Its pid is a private attribute of multiprocessing.forkserver: read defensively."""
    from multiprocessing import forkserver

    pid = getattr(getattr(forkserver, "_forkserver", None), "_forkserver_pid", None)
    return (_vm_hwm_mb(pid) or 0.0) if isinstance(pid, int) else 0.0


def _pid() -> int:
    return os.getpid()


# --- in the crawl process -------------------------------------------------------------------------------------


class WorkerPool:
    """``workers`` processing processes behind an asyncio API; restarted when one dies."""

    def __init__(
        self,
        settings: Settings,
        workers: int,
        *,
        build_processor: bool = True,
        prepare_workers: int = 0,
        prepare_only: bool = False,
    ) -> None:
        """``build_processor=False``: bare workers (no Processor), for tests of the process mechanics.
        ``prepare_workers`` > 0: decoding and extraction (``prepare``) run in a pool of their own, of that many
        processes without the model (``prepare_only``), so a page's two stages use two cores and a runaway
        parse killed at its budget does not take the model's process (and its start-up) with it."""
        self.settings = settings
        self.workers = max(1, int(workers))
        self.build_processor = build_processor
        self.prepare_only = prepare_only
        self.prepare_pool = (
            WorkerPool(settings, prepare_workers, build_processor=build_processor, prepare_only=True)
            if prepare_workers > 0
            else None
        )
        self._executor: ProcessPoolExecutor | None = None
        self._start_lock = threading.Lock()
        self._starting: concurrent.futures.Future[None] | None = None  # start_soon's, until it is done
        self._generation = 0
        self._slots: asyncio.Semaphore | None = None
        self._stamps: Any = None
        self._next_call = 0
        self.restarts = 0
        self.peak_rss_mb = 0.0

    def start(self) -> None:
        """Start the processes now (call from the reactor's thread: the death signal of a spawned worker, or of the
        fork server, is tied to the thread that started it)."""
        with self._start_lock:
            if self._executor is None:
                ctx = _context()
                if self._stamps is None:
                    self._stamps = ctx.RawArray("d", RING)
                self._executor = ProcessPoolExecutor(
                    max_workers=self.workers,
                    mp_context=ctx,
                    initializer=_init_worker,
                    initargs=(
                        self.settings,
                        os.getpid(),
                        self._stamps,
                        self.build_processor,
                        self.prepare_only,
                    ),
                )
                for _ in range(self.workers):  # starts each process now, from this thread
                    self._executor.submit(_pid)
        if self.prepare_pool is not None:
            self.prepare_pool.start()

    def start_soon(self) -> None:
        """Start the processes on a thread of their own and return at once; the first calls wait for it without
        blocking the event loop. Starting the first worker waits for the fork server's preload (~1.5 s), time the
        reactor's thread would otherwise spend blocked instead of fetching. With ``spawn`` (no fork server) this is
        :meth:`start`: a spawned worker's death signal follows the thread that started it, and this one ends."""
        if _context().get_start_method() != "forkserver":
            self.start()
            return
        # The server itself is started here, on the calling (the reactor's) thread, which lives as long as the
        # crawl process: its death signal (pipelines.fork_preload) follows that thread. Starting it does not wait.
        from multiprocessing import forkserver

        forkserver.ensure_running()
        done: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._starting = done
        if self.prepare_pool is not None:
            self.prepare_pool._starting = done

        def run() -> None:
            try:
                self.start()
            except BaseException as exc:  # noqa: BLE001 - the first call starts again and raises it
                done.set_exception(exc)
            else:
                done.set_result(None)

        threading.Thread(target=run, name="yijian-workers-start", daemon=True).start()

    async def _started(self) -> None:
        """Wait (without blocking the loop) for a start begun by :meth:`start_soon`."""
        starting = self._starting
        if starting is not None and not starting.done():
            # a failed start: the caller's start() tries again and raises
            with contextlib.suppress(Exception):
                await asyncio.wrap_future(starting)

    async def call(self, fn: Callable[..., T], *args: Any, timeout: float | None = None) -> T:
        """Run ``fn(*args)`` in a worker. A worker that dies under it: restart the pool and run it once more.
        ``timeout``: seconds from the moment a worker starts the call; past it, the pool is restarted (the call's
        work is killed) and TimeoutError raised."""
        if self._slots is None:
            self._slots = asyncio.Semaphore(MAX_IN_FLIGHT)
        await self._started()
        async with self._slots:
            for attempt in (1, 2):
                self.start()
                generation = self._generation
                assert self._executor is not None and self._stamps is not None
                call_id, self._next_call = self._next_call, self._next_call + 1
                self._stamps[call_id % RING] = 0.0
                try:
                    # submit raises BrokenProcessPool itself when the pool already saw a worker die
                    fut = asyncio.get_running_loop().run_in_executor(self._executor, _run, call_id, fn, *args)
                    return await self._wait(fut, call_id, timeout)
                except TimeoutError:
                    self.restart(generation, "time budget")
                    raise
                except BrokenProcessPool as exc:
                    self.restart(generation, "worker died")
                    if attempt == 2:
                        raise WorkerDied(f"处理进程意外退出（{exc}）") from exc
        raise AssertionError("unreachable")

    async def _wait(self, fut: asyncio.Future[T], call_id: int, timeout: float | None) -> T:
        if timeout is None:
            return await fut
        poll = min(timeout, 1.0)
        while True:
            done, _ = await asyncio.wait({fut}, timeout=poll)
            if done:
                return fut.result()
            started = self._stamps[call_id % RING]
            if not started:  # still queued behind other calls
                poll = min(timeout, 1.0)
                continue
            left = timeout - (time.monotonic() - started)
            if left <= 0:
                fut.cancel()
                raise TimeoutError
            poll = left

    def pids(self) -> list[int]:
        """Process ids of the running workers."""
        procs = getattr(self._executor, "_processes", None) or {}
        return [p.pid for p in procs.values() if p.is_alive()]

    def restart(self, generation: int, why: str) -> None:
        """Kill the pool's processes (if ``generation`` is still the current pool) so the next call starts a new
        one; calls in flight on the old pool fail with BrokenProcessPool and are retried by ``call``."""
        if generation != self._generation or self._executor is None:
            return  # another call already restarted it
        log.warning("restarting the processing workers (%s)", why)
        old, self._executor = self._executor, None
        self._generation += 1
        self.restarts += 1
        for proc in list((getattr(old, "_processes", None) or {}).values()):
            proc.kill()
        # no cancel_futures: the pool's manager sees the killed processes and fails every call it held with
        # BrokenProcessPool, which ``call`` retries on the new pool
        old.shutdown(wait=False)

    @property
    def total_restarts(self) -> int:
        """Restarts of this pool and of its prepare pool."""
        return self.restarts + (self.prepare_pool.restarts if self.prepare_pool is not None else 0)

    def close(self) -> None:
        """Wait for the calls in flight, record the workers' peak memory (the prepare pool's and the fork server's
        included), stop the processes."""
        if self._starting is not None:
            with contextlib.suppress(Exception):
                self._starting.result(timeout=300)
        if self.prepare_pool is not None:
            self.prepare_pool.close()
        started = self._executor is not None
        self._close_own()
        if self.prepare_pool is not None:
            self.peak_rss_mb = round(self.peak_rss_mb + self.prepare_pool.peak_rss_mb, 1)
        if started and not self.prepare_only:
            self.peak_rss_mb = round(self.peak_rss_mb + _fork_server_hwm_mb(), 1)

    def _close_own(self) -> None:
        if self._executor is None:
            return
        peaks = [_vm_hwm_mb(pid) for pid in self.pids()]  # the sum over the workers, each read by the kernel
        executor, self._executor = self._executor, None
        try:
            if peaks and None not in peaks:
                self.peak_rss_mb = round(sum(p for p in peaks if p is not None), 1)
            else:  # no /proc: ask the workers (a worker may answer twice: the largest one's peak × workers)
                answers = [executor.submit(_peak_rss_mb) for _ in range(self.workers)]
                self.peak_rss_mb = max(f.result(timeout=60) for f in answers) * self.workers
        except Exception as exc:  # a broken pool at close: nothing left to measure
            log.info("could not read the workers' peak memory: %s", exc)
        executor.shutdown(wait=True, cancel_futures=True)

    # -- the stages --------------------------------------------------------------------------------------------

    async def prepare(self, page: PageItem, run_id: int | None, timeout: float | None) -> Prepared | Outcome:
        if self.prepare_pool is not None:
            return await self.prepare_pool.call(_prepare, page, run_id, timeout=timeout)
        return await self.call(_prepare, page, run_id, timeout=timeout)

    async def read_images(self, prep: Prepared, images: dict[str, bytes], timeout: float | None) -> Prepared:
        """OCR a page's fetched images in the prepare pool (its workers have slack; the model's worker is the
        crawl's busiest process). Without a prepare pool the images go to ``finish_many`` as they are."""
        if self.prepare_pool is None or not images:
            raise RuntimeError("read_images needs a prepare pool and images")
        return await self.prepare_pool.call(_read_images, prep, images, timeout=timeout)

    async def finish_many(
        self,
        batch: list[tuple[Prepared, dict[str, bytes]]],
        run_id: int | None,
        source_meta: dict[str, tuple[str | None, str | None]],
    ) -> list[Outcome]:
        return await self.call(_finish_many, batch, run_id, source_meta)


_shared: WorkerPool | None = None
_users = 0
_shared_lock = threading.Lock()


def shared_pool(settings: Settings) -> WorkerPool:
    """The crawl process's one pool (created by the first caller, with its settings: every crawler of a crawl
    process has the same data directory and settings), shared by all its crawlers; pair every call with
    :func:`release_pool`."""
    global _shared, _users
    with _shared_lock:
        if _shared is None:
            _shared = WorkerPool(
                settings, settings.processing_workers, prepare_workers=settings.prepare_workers
            )
        _users += 1
        pool = _shared
    pool.start_soon()
    return pool


def start_workers(data_dir: str | None) -> WorkerPool | None:
    """Start the crawl process's processing workers first thing, before Scrapy is even imported (the model loads
    meanwhile); None when processing runs in-process (``processing_workers`` = 0). The caller releases the pool
    after the crawl; the pipelines of every crawler share it. Settings as the pipeline reads them."""
    from config import get_settings

    settings = get_settings(data_dir=data_dir)
    return shared_pool(settings) if settings.processing_workers > 0 else None


def release_pool(pool: WorkerPool) -> bool:
    """One user fewer; the last one closes the pool. Returns True when it was closed."""
    global _shared, _users
    with _shared_lock:
        if pool is _shared:
            _users -= 1
            if _users > 0:
                return False
            _shared = None
    pool.close()
    return True
