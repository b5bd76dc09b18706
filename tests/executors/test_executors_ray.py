"""The ``ray`` executor on a real local Ray instance: results, errors, time limits, dead workers,
and extraction equal to the local pool's (same bytes, same manifest rows)."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import pytest

ray = pytest.importorskip("ray", reason="the ray extra is not installed (pip install -e '.[ray]')")
from ray import cloudpickle  # noqa: E402  (vendored by ray)

from avdata.errors import AvdataError  # noqa: E402
from avdata.executors import get_executor  # noqa: E402
from avdata.executors.ray import ClusterError, RayExecutor, check_shared_paths  # noqa: E402

# Ray workers cannot import this test module by name: ship its functions by value.
cloudpickle.register_pickle_by_value(sys.modules[__name__])


@pytest.fixture(scope="module")
def ray_cluster(ray_session: None) -> None:
    return None


def _square(x: int) -> int:
    return x * x


def _fail_on_three(x: int) -> int:
    if x == 3:
        raise ValueError("three is bad")
    return x


def _hang_on_two(x: int) -> int:
    if x == 2:
        time.sleep(120)
    return x


def _die_once(arg: tuple[int, str]) -> tuple[int, int]:
    """Item ``x``'s first attempt SIGKILLs its own worker process in the middle of the item."""
    x, marks = arg
    mark = Path(marks) / f"{x}.started"
    if x % 4 == 1 and not mark.exists():
        mark.write_text(str(os.getpid()))
        os.kill(os.getpid(), signal.SIGKILL)
    return x, os.getpid()


def test_ray_runs_every_item(ray_cluster: None) -> None:
    ex = get_executor("ray", workers=2)
    assert isinstance(ex, RayExecutor)
    assert sorted(ex.map_unordered(_square, range(40))) == [i * i for i in range(40)]


def test_raising_item_becomes_its_error_row_and_the_rest_complete(ray_cluster: None) -> None:
    lost: list[tuple[int, str]] = []

    def on_lost(item: int, reason: str) -> int:
        lost.append((item, reason))
        return -1

    out = list(RayExecutor(workers=2, on_lost=on_lost).map_unordered(_fail_on_three, range(8)))
    assert sorted(out) == [-1, 0, 1, 2, 4, 5, 6, 7]
    assert lost == [(3, "error")]


def test_raising_item_without_handler_stops_with_a_named_error(ray_cluster: None) -> None:
    with pytest.raises(AvdataError, match="three is bad"):
        list(RayExecutor(workers=2).map_unordered(_fail_on_three, range(8)))


def test_item_over_the_time_limit_is_cancelled_as_timeout(ray_cluster: None) -> None:
    lost: list[tuple[int, str]] = []
    t0 = time.monotonic()
    out = list(RayExecutor(workers=2, item_timeout=3.0,
                           on_lost=lambda item, reason: lost.append((item, reason)) or -item)
               .map_unordered(_hang_on_two, range(6)))
    assert time.monotonic() - t0 < 60
    assert sorted(out) == [-2, 0, 1, 3, 4, 5]
    assert lost == [(2, "timeout")]


def test_killed_worker_is_retried_and_nothing_is_missing(ray_cluster: None, tmp_path: Path) -> None:
    items = [(i, str(tmp_path)) for i in range(10)]
    out = list(RayExecutor(workers=2, max_retries=2).map_unordered(_die_once, items))
    assert sorted(x for x, _ in out) == list(range(10))
    killed = {int(p.stem.split(".")[0]): int(p.read_text()) for p in tmp_path.glob("*.started")}
    assert sorted(killed) == [1, 5, 9]            # each killed its worker once, in the middle of the item
    finished_by = dict(out)
    assert all(finished_by[x] != pid for x, pid in killed.items())   # and was redone by a new process


def test_workers_must_see_the_output_root(ray_cluster: None, tmp_path: Path) -> None:
    ex = RayExecutor(workers=1, shared_paths=[str(tmp_path / "out")])
    assert list(ex.map_unordered(_square, [3])) == [9]
    assert not list((tmp_path / "out").iterdir())          # the probe file is gone again

    class Blind:
        """An actor stand-in on a node that does not mount the root."""

        class read_token:  # noqa: N801  mirrors the actor method's shape
            @staticmethod
            def remote(path: str) -> object:
                return ray.put(("node-elsewhere-0000", None))

    with pytest.raises(ClusterError, match="shared filesystem"):
        check_shared_paths(ray, [Blind()], [str(tmp_path / "out")])
