"""A real local Ray cluster (2 CPUs, loopback only) with this process as its driver, for the Ray tests.

with local_ray_cluster() as address:   # what `ray start --head` prints; other processes join it by address
    ...
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

# Loopback only: the cluster's processes talk to each other on 127.0.0.1.
NODE_IP = "127.0.0.1"
# Ray gives its raylet a fixed 30 s to register, which a crowded machine has missed ("The current node timed out
# during startup"); one more try, after the failed start is shut down, rides out such a moment.
START_ATTEMPTS = 2


@contextmanager
def local_ray_cluster(cpus: int = 2) -> Iterator[str]:
    import ray

    for attempt in range(1, START_ATTEMPTS + 1):
        try:
            context = ray.init(
                num_cpus=cpus,
                _node_ip_address=NODE_IP,
                include_dashboard=False,
                object_store_memory=80 * 1024 * 1024,
                log_to_driver=False,
            )
            break
        except Exception:
            ray.shutdown()  # stops whatever the failed start left running
            if attempt == START_ATTEMPTS:
                raise
    try:
        yield str(context.address_info["address"])
    finally:
        ray.shutdown()
