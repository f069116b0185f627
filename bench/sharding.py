"""The runs axis over devices: the mesh every program shards its runs over, and moving arrays
between the host and that mesh (one process or many).

A program's runs axis is split evenly over a 1-D mesh of every device (`runs_mesh`), named
RUNS_AXIS; per-run arrays are `runs_sharding`, data and call windows `replicated`.
"""
from __future__ import annotations

from typing import Sequence

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

RUNS_AXIS = "runs"


def runs_mesh(devices: Sequence[jax.Device] | None = None) -> Mesh:
    """A 1-D mesh named RUNS_AXIS over `devices` (default: every device of every process)."""
    return Mesh(np.asarray(devices if devices is not None else jax.devices()), (RUNS_AXIS,))


def runs_sharding(mesh: Mesh) -> NamedSharding:
    """Leading axis split over the mesh: per-run arrays."""
    return NamedSharding(mesh, PartitionSpec(RUNS_AXIS))


def replicated(mesh: Mesh) -> NamedSharding:
    """A whole copy on every device: data sets, call windows."""
    return NamedSharding(mesh, PartitionSpec())


def global_array(host: np.ndarray, sharding: NamedSharding) -> jax.Array:
    """A global array from a host array every process holds whole (one process or many)."""
    host = np.asarray(host)
    return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])


def to_host(tree):
    """Host numpy copies of (possibly sharded) outputs; across processes, gathered first."""
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        return multihost_utils.process_allgather(tree, tiled=True)
    return jax.device_get(tree)
