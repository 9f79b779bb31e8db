"""`--distribute` and `--replicas` of `kerobust eval`, `certify` and `bound`: each batch of points split over this
machine's devices (`kerobust.sharding.sharding_points`)."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

from kerobust.values import convert, whole

if TYPE_CHECKING:
    from kerobust.distribution import Distribution


def add_distribution_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--distribute", default=None,
                        help="split each batch of points over the devices: mirrored (TensorFlow: the local GPUs, or "
                             "with --replicas N, N logical devices of the CPU) or data-parallel (JAX: the local GPUs "
                             "or N host devices of the CPU); default: one device")
    parser.add_argument("--replicas", default=None, help="devices of --distribute (default: every GPU; on a CPU, 2)")


def check_distribution_flags(args: argparse.Namespace) -> int | None:
    """The replica count of `--replicas`, after one-line errors for flags that cannot work (no framework started)."""
    from kerobust.distribution import check_evaluation_distribution

    replicas = convert("replicas", args.replicas, whole)
    check_evaluation_distribution(args.distribute, replicas)
    return replicas


@contextlib.contextmanager
def sharded(args: argparse.Namespace, replicas: int | None) -> Iterator[Distribution]:
    """Yields the `Distribution` of the flags, inside its `sharding_points`: load the model and evaluate in it. It
    is made before TensorFlow's runtime or JAX starts (the CPU split needs that)."""
    from kerobust.distribution import make_distribution
    from kerobust.sharding import sharding_points

    distribution = make_distribution(args.distribute, replicas)
    if distribution.replicas > 1:
        print(f"sharding each batch of points over {distribution.replicas} devices ({distribution.strategy_name})")
    with sharding_points(distribution):
        yield distribution
