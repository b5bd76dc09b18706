"""``RayExecutor.call``: one remote call from a driver thread (what ``fetch --executor ray`` sends
each download attempt through), on a real local Ray instance."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ray = pytest.importorskip("ray", reason="the ray extra is not installed (pip install -e '.[ray]')")
from ray import cloudpickle  # noqa: E402  (vendored by ray)

from avdata.executors import CallCancelled, CallLost, get_executor, remote_calls  # noqa: E402
from avdata.executors.ray import RayExecutor, check_shared_paths_on_nodes  # noqa: E402

cloudpickle.register_pickle_by_value(sys.modules[__name__])


def _pid_and_square(x: int) -> tuple[int, int]:
    return os.getpid(), x * x


def _die(x: int) -> int:
    os.kill(os.getpid(), signal.SIGKILL)
    return x


def _raise(x: int) -> int:
    raise ValueError(f"no {x}")


def _sleep_then_mark(arg: tuple[float, str]) -> str:
    seconds, mark = arg
    Path(mark).write_text(str(os.getpid()))
    time.sleep(seconds)
    Path(mark).write_text("finished")
    return "slept"


def test_calls_from_many_driver_threads_run_on_workers(ray_session: None, tmp_path: Path) -> None:
    ex = RayExecutor(shared_paths=(str(tmp_path),))
    assert remote_calls(ex) is ex and remote_calls(get_executor("threads", workers=2)) is None
    ex.start_calls()                     # the shared folder seen from every node (here: one)
    with ThreadPoolExecutor(4) as pool:
        out = list(pool.map(lambda x: ex.call(_pid_and_square, x), range(12)))
    assert [sq for _, sq in out] == [x * x for x in range(12)]
    assert os.getpid() not in {pid for pid, _ in out}


@pytest.mark.slow
def test_a_worker_that_always_dies_is_a_lost_call_not_a_crash(ray_session: None) -> None:
    ex = RayExecutor(max_retries=1)
    with pytest.raises(CallLost) as err:
        ex.call(_die, 1)
    assert err.value.reason == "worker_died"
    with pytest.raises(CallLost) as err:
        ex.call(_raise, 7)
    assert err.value.reason == "error" and "no 7" in err.value.detail
    assert ex.call(_pid_and_square, 3)[1] == 9        # and the executor goes on


def test_stop_cancels_a_call_in_flight(ray_session: None, tmp_path: Path) -> None:
    ex = RayExecutor()
    stop = threading.Event()
    mark = tmp_path / "mark"
    box: list[BaseException] = []

    def run() -> None:
        try:
            ex.call(_sleep_then_mark, (60.0, str(mark)), stop=stop)
        except BaseException as e:  # noqa: BLE001  (what the thread saw)
            box.append(e)

    t = threading.Thread(target=run)
    t.start()
    deadline = time.monotonic() + 60
    while not mark.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    pid = int(mark.read_text())
    t0 = time.monotonic()
    stop.set()
    t.join(timeout=30)
    assert not t.is_alive() and time.monotonic() - t0 < 5
    assert len(box) == 1 and isinstance(box[0], CallCancelled)
    deadline = time.monotonic() + 30                  # the worker running it was killed
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not Path(f"/proc/{pid}").exists()
    assert mark.read_text() != "finished"


def test_node_probe_sees_the_shared_folder(ray_session: None, tmp_path: Path) -> None:
    check_shared_paths_on_nodes(ray, [str(tmp_path / "out")])
    assert (tmp_path / "out").is_dir() and not list((tmp_path / "out").iterdir())   # probe removed
