"""issue 23: mid-epoch resume and on_error. A run stopped after batch 1, 3 or the last and resumed
from its state yields exactly the rest of the epoch, in the order of one uninterrupted run, with 0
and 2 workers and 2 ranks (torchdata's StatefulDataLoader over the samplers and ShardReader; the
samplers' own state with a plain DataLoader); on_error="skip" leaves out the broken line only."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
stateful = pytest.importorskip("torchdata.stateful_dataloader", reason="torchdata installs beside torch 2.13.0")

from avdata.errors import AvdataError  # noqa: E402
from avdata.loaders import AVIndexDataset, DatasetOptions, ShardReader, ShuffleSampler, WeightedSampler, collate  # noqa: E402,E501

pytestmark = pytest.mark.slow
StatefulDataLoader = stateful.StatefulDataLoader
STOPS = (1, 3, "last")


def _ids(batches: list[dict]) -> list[tuple[int, str]]:
    return [(int(i), c) for b in batches for i, c in zip(b["index"].tolist(), b["id"])]


def _ours(state: object) -> list[dict]:
    """The states our samplers and ShardReader put inside the loader's state (they hold "yielded")."""
    if isinstance(state, dict):
        found = [state] if "yielded" in state and "epoch" in state else []
        return found + [x for v in state.values() for x in _ours(v)]
    return []


def _run(make, stop) -> tuple[list, list, list]:
    """The whole epoch; the batches before ``stop`` and after it, resumed from the state there."""
    full = list(make())
    k = len(full) if stop == "last" else stop
    first = make()
    it = iter(first)
    head = [next(it) for _ in range(k)]
    state = first.state_dict()
    ours = _ours(state)
    assert ours and sum(s["yielded"] for s in ours) == k, state      # the loader saved our own position
    del it, first
    again = make()
    again.load_state_dict(state)
    return full, head, list(again)


@pytest.mark.parametrize("workers", [0, 2])
@pytest.mark.parametrize("kind", ["shuffle", "weighted"])
def test_samplers_resume_mid_epoch_with_the_stateful_dataloader(demo_dir: Path, workers: int, kind: str) -> None:
    index = demo_dir / "index" / "src_train_segments.csv"
    ds = AVIndexDataset(index, DatasetOptions(media=str(demo_dir / "media"), outputs=("labels",)))
    for rank in (0, 1):
        def make():
            if kind == "shuffle":
                sampler = ShuffleSampler(len(ds), seed=3, rank=rank, world_size=2)
            else:
                sampler = WeightedSampler(index.with_name(index.stem + "_weight.csv"), seed=3, rank=rank,
                                          world_size=2)
            sampler.set_epoch(2)
            return StatefulDataLoader(ds, batch_size=1, sampler=sampler, num_workers=workers, collate_fn=collate)

        for stop in STOPS:
            full, head, rest = _run(make, stop)
            assert len(full) == 6
            assert _ids(head) + _ids(rest) == _ids(full), (rank, stop)


@pytest.mark.parametrize("workers", [0, 2])
def test_shard_reader_resumes_mid_epoch_per_worker(demo_dir: Path, workers: int) -> None:
    shards = next((demo_dir / "shards").glob("*.shards.json"))
    opts = DatasetOptions(media=str(demo_dir / "media"), outputs=("labels",))
    everything = []
    for rank in (0, 1):
        def make():
            reader = ShardReader(shards, opts, rank=rank, world_size=2)
            reader.set_epoch(1)
            return StatefulDataLoader(reader, batch_size=1, num_workers=workers, collate_fn=collate)

        for stop in STOPS:
            full, head, rest = _run(make, stop)
            assert _ids(head) + _ids(rest) == _ids(full), (rank, stop, workers)
        everything += _ids(full)
    assert sorted(i for i, _ in everything) == list(range(12))      # every sample once over the 2 ranks


def test_sampler_state_with_a_plain_loop(demo_dir: Path) -> None:
    """Without torchdata: the loop saves {"epoch", "yielded": batches * batch_size}."""
    n = 12
    whole = ShuffleSampler(n, seed=5, rank=1, world_size=2)
    whole.set_epoch(4)
    order = list(whole)
    for done in range(len(order) + 1):
        resumed = ShuffleSampler(n, seed=5, rank=1, world_size=2)
        resumed.load_state_dict({"epoch": 4, "yielded": done})
        assert order[:done] + list(resumed) == order
        assert list(resumed) == order                     # the resume holds for one iteration only
    s = ShuffleSampler(n, seed=5)
    it = iter(s)
    [next(it) for _ in range(4)]
    assert s.state_dict() == {"epoch": 0, "yielded": 4, "seed": 5, "rank": 0, "world_size": 1}
    with pytest.raises(AvdataError, match="seed"):
        ShuffleSampler(n, seed=6).load_state_dict(s.state_dict())
    with pytest.raises(AvdataError, match="outside"):
        ShuffleSampler(n, seed=5).load_state_dict({"epoch": 0, "yielded": 13})


def test_skip_leaves_out_the_broken_line_and_keeps_every_other_in_order(demo_dir: Path, tmp_path: Path,
                                                                        caplog: pytest.LogCaptureFixture) -> None:
    media = tmp_path / "media"
    shutil.copytree(demo_dir / "media", media)
    index = demo_dir / "index" / "src_train_segments.csv"
    probe = AVIndexDataset(index, media=media)
    victim = probe.record(4)
    next(media.glob(f"*/frame/{victim['id']}.{victim['frame'][1]}")).unlink()
    next(media.glob(f"*/frame/{victim['id']}.{victim['frame'][2]}")).unlink()
    opts = DatasetOptions(media=str(media), outputs=("image", "labels"), on_error="skip")
    ds = AVIndexDataset(index, opts)
    with pytest.raises(Exception):      # noqa: B017  the default still raises
        AVIndexDataset(index, DatasetOptions(media=str(media), outputs=("image",)))[4]
    loader = torch.utils.data.DataLoader(ds, batch_size=4, sampler=ShuffleSampler(len(ds), shuffle=False),
                                         collate_fn=collate)
    with caplog.at_level(logging.WARNING, logger="avdata.loaders"):
        batches = list(loader)
    got = [int(i) for b in batches for i in b["index"].tolist()]
    assert got == [i for i in range(len(ds)) if i != 4]
    assert [len(b["index"]) for b in batches] == [4, 3, 4]        # the broken item's batch is one short
    assert any(f"{index}:5" in r.getMessage() for r in caplog.records)
    assert all(b["image"].shape[1:] == (3, 224, 224) for b in batches)


def test_shard_reader_skips_an_unreadable_shard_and_reads_the_rest(demo_dir: Path, tmp_path: Path,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    shards = tmp_path / "shards"
    shutil.copytree(demo_dir / "shards", shards)
    listing = next(shards.glob("*.shards.json"))
    tars = sorted(shards.glob("*.tar"))
    tars[5].write_bytes(tars[5].read_bytes()[:700])             # cut inside its first member
    tars[8].unlink()                                             # gone
    opts = DatasetOptions(media=str(demo_dir / "media"), outputs=("labels",), on_error="skip")
    with caplog.at_level(logging.WARNING, logger="avdata.loaders"):
        got = [item["index"] for item in ShardReader(listing, opts)]
    assert got == [i for i in range(12) if i not in (5, 8)]
    messages = " ".join(r.getMessage() for r in caplog.records)
    assert tars[8].name in messages
    with pytest.raises(Exception):      # noqa: B017
        list(ShardReader(listing, DatasetOptions(media=str(demo_dir / "media"), outputs=("labels",))))
