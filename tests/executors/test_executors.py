import pytest

from avdata.errors import AvdataError
from avdata.executors import executor_names, get_executor


def _square(x: int) -> int:
    return x * x


@pytest.mark.parametrize("name,opts", [("inline", {}), ("local", {"workers": 2}), ("local", {"workers": 1})])
def test_executors_run_every_item(name: str, opts: dict) -> None:
    ex = get_executor(name, **opts)
    assert sorted(ex.map_unordered(_square, range(50))) == [i * i for i in range(50)]


def test_unknown_executor_names_the_choices() -> None:
    assert {"inline", "local"} <= set(executor_names())
    with pytest.raises(AvdataError, match="local"):
        get_executor("nope")


def _sleep_then(x: tuple[int, float]) -> int:
    import time

    time.sleep(x[1])
    return x[0]


def _fail_on_seven(x: int) -> int:
    if x == 7:
        raise ValueError("seven")
    return x


class _Recording:
    """A thread pool that records how many items each submitted call carries."""

    def __init__(self, workers: int) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self.pool = ThreadPoolExecutor(workers)
        self.sizes: list[int] = []

    def submit(self, fn, *args):  # noqa: ANN001, ANN202
        from avdata.executors import run_batch

        self.sizes.append(len(args[1]) if fn is run_batch else 1)
        return self.pool.submit(fn, *args)


def test_short_items_go_in_batches_long_ones_one_at_a_time() -> None:
    """issue 23: the local pool batches items of a few ms (the parent's work per item shrinks),
    but keeps long items single so that a few heavy ones still spread over every worker."""
    from avdata.executors import bounded_map

    short = _Recording(2)
    got = list(bounded_map(short, _sleep_then, [(i, 0.0005) for i in range(400)], 4, max_batch=16,
                           batch_seconds=0.02))
    assert sorted(got) == list(range(400)) and sum(short.sizes) == 400
    assert short.sizes[0] == 1 and max(short.sizes) == 16 and len(short.sizes) < 60
    long = _Recording(2)
    got = list(bounded_map(long, _sleep_then, [(i, 0.03) for i in range(6)], 4, max_batch=16, batch_seconds=0.02))
    assert sorted(got) == list(range(6)) and long.sizes == [1] * 6
    single = _Recording(2)
    assert sorted(bounded_map(single, _sleep_then, [(i, 0.0) for i in range(20)], 4)) == list(range(20))
    assert single.sizes == [1] * 20                                    # max_batch=1: plain calls


def test_local_pool_batches_and_still_raises_an_items_error() -> None:
    ex = get_executor("local", workers=2)
    assert sorted(ex.map_unordered(_square, range(3000))) == [i * i for i in range(3000)]
    with pytest.raises(ValueError, match="seven"):
        list(get_executor("local", workers=2).map_unordered(_fail_on_seven, range(50)))
