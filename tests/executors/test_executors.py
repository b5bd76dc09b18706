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
