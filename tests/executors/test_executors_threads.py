import threading
import time

from avdata.executors import get_executor
from avdata.executors import threads  # noqa: F401  (registers "threads")


def test_thread_executor_runs_every_item_and_bounds_items_in_flight() -> None:
    taken = 0
    lock = threading.Lock()

    def items():
        nonlocal taken
        for i in range(40):
            with lock:
                taken += 1
            yield i

    running = peak = 0

    def work(x: int) -> int:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.002)
        with lock:
            running -= 1
        return x * 2

    ex = get_executor("threads", workers=4)
    results = []
    for r in ex.map_unordered(work, items()):
        results.append(r)
        assert taken - len(results) <= 4      # never more than `workers` items taken and unfinished
    assert sorted(results) == [2 * i for i in range(40)]
    assert 1 < peak <= 4
