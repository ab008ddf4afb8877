"""A real local Ray cluster (2 CPUs, loopback only) with this process as its driver, for the Ray tests.

with local_ray_cluster() as address:   # what `ray start --head` prints; other processes join it by address
    ...
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def local_ray_cluster(cpus: int = 2) -> Iterator[str]:
    import ray

    from training.distributed import start_local_cluster

    # Two tries: the suite's own liveness bounds cover the rest.
    context = start_local_cluster(cpus, attempts=2, object_store_memory=80 * 1024 * 1024)
    try:
        yield str(context.address_info["address"])
    finally:
        ray.shutdown()
