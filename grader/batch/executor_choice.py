"""Which executor a batch grades with: the local process pool, or Dask (an optional extra).

Kept apart from :mod:`grader.batch.executors` (the pool and what every executor shares) and
:mod:`grader.batch.dask_executor` (which builds on it), so that neither imports the other back.
"""

from __future__ import annotations

from grader.batch.executors import INSTALL_DASK, LocalPool, MissingDask


def dask_executor(scheduler: str | None = None, workers: int = 1, limits=None, tls: dict | None = None):
    """A Dask executor: on ``scheduler`` (an address such as tcp://HOST:8786), or a LocalCluster of
    ``workers`` processes. Raises MissingDask, with what to install, when dask is absent."""
    try:
        import dask  # noqa: F401
        import distributed  # noqa: F401
    except ImportError:
        raise MissingDask(
            f"grading on Dask needs dask and distributed, which are not installed: {INSTALL_DASK}"
        ) from None
    from grader.batch.dask_executor import DaskExecutor

    return DaskExecutor(scheduler=scheduler, workers=workers, limits=limits, tls=tls)


def chosen(executor: str = "local", scheduler: str | None = None, jobs: int = 1, limits=None, tls: dict | None = None):
    """The executor the command line asked for: ``--scheduler`` implies Dask."""
    if scheduler or executor == "dask":
        return dask_executor(scheduler, jobs, limits, tls)
    return LocalPool(jobs, limits)
