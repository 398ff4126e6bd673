"""Where a sweep's tasks run: a local process pool, or a Ray cluster.

Both are generators of ``(index, result)`` in completion order; the sweep puts the
results back in grid order, so the table does not depend on which executor ran them or
when each finished. The pool starts its workers with ``spawn`` (no state is inherited
from the parent; the golden kernels come from numba's disk cache). Ray is imported only
when asked for (``pip install 'spikefab[sweep]'``): ``--ray local`` starts a private
instance with ``--jobs`` CPUs and stops it afterwards; ``--ray ADDRESS`` joins a running
cluster, whose workers must have spikefab installed and the dataset at hand.
"""

import logging
import multiprocessing
import socket
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

from spikefab.sweep_point import run_task, run_worker_task, set_worker_dataset
from spikefab.sweep_table import SweepError


__all__ = ["pool_results", "ray_results", "require_ray", "LOCAL_RAY"]

#: ``--ray local``: start a Ray instance on this machine for the sweep.
LOCAL_RAY = "local"


def pool_results(tasks, dataset, jobs):
    """Run ``tasks`` on ``dataset`` in ``jobs`` worker processes (no more than there are
    tasks); yield ``(index, result)`` as each finishes. Leaving early (an error, Ctrl-C)
    cancels what has not started."""
    pool = ProcessPoolExecutor(max_workers=max(1, min(jobs, len(tasks))),
                               mp_context=multiprocessing.get_context("spawn"),
                               initializer=set_worker_dataset, initargs=(dataset,))
    try:
        pending = {pool.submit(run_worker_task, task): index
                   for index, task in enumerate(tasks)}
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                yield pending.pop(future), future.result()
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def require_ray():
    """The ``ray`` module, or a one-line error saying how to install it."""
    try:
        import ray
    except ImportError:
        raise SweepError("--ray needs Ray: pip install 'spikefab[sweep]'") from None
    return ray


def probe_ray_address(address, timeout=5.0):
    """Refuse at once a ``HOST:PORT`` (or ``ray://HOST:PORT``) that nothing answers on:
    ``ray.init`` would retry it for minutes. Other forms (``auto``) are Ray's to check."""
    host, sep, port = address.split("://", 1)[-1].rpartition(":")
    if not sep or not port.isdigit():
        return
    try:
        socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout).close()
    except OSError as error:
        raise SweepError(f"cannot reach Ray at {address!r}: {error}") from None


def _start_ray(ray, address, jobs):
    # The sweep reports its own progress: Ray's start-up notes would only interleave.
    options = {"include_dashboard": False, "log_to_driver": False,
               "logging_level": logging.ERROR}
    try:
        if address == LOCAL_RAY:
            ray.init(num_cpus=jobs, **options)
        else:
            ray.init(address=address, **options)
    except (ConnectionError, RuntimeError, ValueError) as error:
        raise SweepError(f"cannot start or reach Ray at {address!r}: "
                         f"{str(error).splitlines()[0] if str(error) else error}") from None


def ray_results(tasks, dataset, address, jobs):
    """Run ``tasks`` on ``dataset`` (put once in Ray's object store) as Ray tasks of one
    CPU each; yield ``(index, result)`` as each finishes. A task's exception is raised
    here as itself, not wrapped."""
    if not tasks:
        return
    ray = require_ray()
    _start_ray(ray, address, jobs)
    try:
        remote = ray.remote(num_cpus=1)(run_task)
        shared = ray.put(dataset)
        pending = {remote.remote(task, shared): index for index, task in enumerate(tasks)}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            try:
                result = ray.get(done[0])
            except ray.exceptions.RayTaskError as error:
                raise (error.cause or error) from None
            yield pending.pop(done[0]), result
    finally:
        ray.shutdown()
