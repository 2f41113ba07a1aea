"""The render farm: jobs' engines run on a Ray cluster, the job store stays the server's.

- :mod:`server.farm.cluster`: :class:`Farm`, the server's connection to the cluster;
- :mod:`server.farm.pool`: the engine hosts (one per GPU, one per ``ray_classical_cpus`` CPUs of
  each node) and how a job borrows one;
- :mod:`server.farm.proxy`: the engine ``run_job`` talks to, its frames made on a host, retried
  on another host when a worker is lost;
- :mod:`server.farm.host`: the actor on the worker, holding its engines warm between jobs.

Ray is imported only inside functions: importing this package does not import Ray.
"""

from server.farm.cluster import Farm, FarmError

__all__ = ["Farm", "FarmError"]
