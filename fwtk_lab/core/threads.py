"""Thread settings for small shared CPUs, chosen on purpose (see README, "Threads")."""

from __future__ import annotations

import os

import torch


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def default_threads() -> int:
    """1 on machines with <= 2 cores (a second busy-waiting thread slows small models), else half the cores, <= 8."""
    n = cores()
    return 1 if n <= 2 else min(n // 2, 8)


def configure(threads: int | None) -> int:
    n = int(threads) if threads else default_threads()
    torch.set_num_threads(n)
    return n
