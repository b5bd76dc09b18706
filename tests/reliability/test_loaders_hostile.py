"""The loaders and the shard reader on hostile lists and files (issue 25, defects 1 and 13):
a shard list never reaches a shell or leaves its folder; npz files that are empty, truncated, of
the wrong shape or without a decoded frame are one MediaError naming the file and the index line;
errors cross DataLoader workers as themselves."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from avdata.errors import AvdataError, InputFormatError, MediaError
from avdata.loaders import AVIndexDataset, DatasetOptions
from avdata.loaders.mixture import MixtureDataset, MixtureOptions
from avdata.loaders.shards import ShardOptions, write_shards
from avdata.loaders.wds_reader import ShardReader, read_shard_list

pytest.importorskip("webdataset")


def _list(folder: Path, url: object) -> Path:
    path = folder / "x.shards.json"
    path.write_text(json.dumps({"shardlist": [{"url": url, "nsamples": 1}]}))
    return path


@pytest.mark.parametrize("url, why", [
    ("pipe:touch {marker}; cat a.tar", "has a scheme"),
    ("file:///etc/passwd", "has a scheme"),
    ("s3://bucket/a.tar", "has a scheme"),
    ("/etc/passwd", "absolute path"),
    ("../outside.tar", "'..' not allowed"),
    ("a/../../outside.tar", "'..' not allowed"),
    (7, "url is not a string"),
])
def test_a_shard_list_entry_outside_its_folder_is_refused(tmp_path: Path, url: object, why: str) -> None:
    marker = tmp_path / "marker"
    if isinstance(url, str):
        url = url.replace("{marker}", str(marker))
    path = _list(tmp_path, url)
    with pytest.raises(InputFormatError) as e:
        ShardReader(path, DatasetOptions(media=str(tmp_path)))
    assert str(e.value).startswith(f"{path}: shard 1: ") and why in str(e.value)
    assert not marker.exists()


def test_plain_names_in_subfolders_are_read_where_the_list_is(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    path = _list(tmp_path, "sub/./a.tar")
    assert read_shard_list(path) == [(str(tmp_path.resolve() / "sub" / "a.tar"), 1)]


@pytest.fixture()
def no_process_can_start(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every way Python starts a process (and webdataset's opener) records its call and fails."""
    calls: list[str] = []

    def refuse(name: str):
        def call(*args, **kwargs):
            calls.append(f"{name}{args[:2]!r}")
            raise AssertionError(f"{name} called with {args[:2]!r}")
        return call

    import importlib

    gopen_module = importlib.import_module("webdataset.gopen")
    monkeypatch.setattr(subprocess.Popen, "__init__", refuse("Popen"))
    for name in ("system", "popen", "posix_spawn", "posix_spawnp", "execv", "execve", "execvp", "spawnv"):
        if hasattr(os, name):
            monkeypatch.setattr(os, name, refuse(f"os.{name}"))
    monkeypatch.setattr(gopen_module, "gopen", refuse("webdataset.gopen"))
    return calls


def test_no_reader_hands_data_to_anything_that_starts_a_process(demo_dir: Path, tmp_path: Path,
                                                                no_process_can_start: list[str]) -> None:
    media = str(demo_dir / "media")
    shard_list = demo_dir / "shards" / "src_train_segments.shards.json"
    for features in ("raw", "npz"):
        opts = DatasetOptions(media=media, features=features)
        items = list(ShardReader(shard_list, opts))
        assert len(items) == sum(n for _, n in read_shard_list(shard_list)) and items[0]["fbank"].shape == (1000, 128)
        ds = AVIndexDataset(demo_dir / "index" / "src_train_segments.csv", opts)
        assert all(ds[i]["image"].shape == (3, 224, 224) for i in range(len(ds)))
    mix = MixtureDataset(AVIndexDataset(demo_dir / "index" / "src_train_segments.csv", DatasetOptions(media=media)),
                         MixtureOptions())
    assert mix[0]["mixture"].ndim == 1
    # a hostile list is refused before any opener sees it
    with pytest.raises(InputFormatError):
        ShardReader(_list(tmp_path, "pipe:id"), DatasetOptions(media=media))
    assert no_process_can_start == []


def _corrupt(root: Path, kind: str, how: str) -> Path:
    """Damage the first line's ``kind`` npz below a copy of the demo media; return the file."""
    line = json.loads((root / "index" / "src_train_segments.csv").read_text().splitlines()[0])
    path = root / "media" / line["dir"] / kind / f"{line['id']}.{line[kind]}"
    data = path.read_bytes()
    if how == "empty":
        path.write_bytes(b"")
    elif how == "truncated":
        path.write_bytes(data[: len(data) // 2])
    else:
        arrays = {"shape": {"flag": np.zeros((5, 3), np.float32)},
                  "nan": {"flag": np.full((998, 128), np.nan, np.float32)},
                  "no_frame": {"01": np.array([], np.float32), "02": np.array([], np.float32)}}[how]
        with path.open("wb") as fh:
            np.savez(fh, **arrays)
    return path


CASES = [("aclip_128", "empty", "empty or truncated"), ("aclip_128", "truncated", "not a readable .npz"),
         ("aclip_128", "shape", "expected (frames, 128)"), ("aclip_128", "nan", "non-finite"),
         ("frame_224", "empty", "empty or truncated"), ("frame_224", "no_frame", "no decoded frame")]


@pytest.mark.parametrize("kind, how, says", CASES)
def test_bad_npz_files_name_the_file_and_the_line(demo_copy: Path, kind: str, how: str, says: str) -> None:
    bad = _corrupt(demo_copy, kind, how)
    index = demo_copy / "index" / "src_train_segments.csv"
    outputs = ("fbank",) if kind == "aclip_128" else ("image",)
    ds = AVIndexDataset(index, DatasetOptions(media=str(demo_copy / "media"), features="npz", outputs=outputs))
    with pytest.raises(MediaError) as e:
        ds[0]
    assert str(bad) in e.value.message and f"{index}:1:" in e.value.message and says in e.value.message
    assert ds[1][outputs[0]].shape in ((1000, 128), (3, 224, 224))       # the next line is fine


@pytest.mark.slow
@pytest.mark.parametrize("kind, how, says", [CASES[0], CASES[1], CASES[5]])
def test_the_shard_reader_names_a_bad_npz_member(demo_copy: Path, kind: str, how: str, says: str) -> None:
    _corrupt(demo_copy, kind, how)
    index = demo_copy / "index" / "src_train_segments.csv"
    res = write_shards(ShardOptions(index=str(index), media=str(demo_copy / "media"), out=str(demo_copy / "s2"),
                                    executor="inline", weights=None))
    assert res.shard_list is not None
    outputs = ("fbank",) if kind == "aclip_128" else ("image",)
    reader = ShardReader(res.shard_list, DatasetOptions(media=".", features="npz", outputs=outputs))
    with pytest.raises(MediaError) as e:
        list(reader)
    assert f".{kind}.npz" in e.value.message and says in e.value.message and ":1: id " in e.value.message


@pytest.mark.slow
def test_a_media_error_crosses_dataloader_workers_as_itself(demo_copy: Path) -> None:
    torch = pytest.importorskip("torch")
    _corrupt(demo_copy, "aclip_128", "empty")
    ds = AVIndexDataset(demo_copy / "index" / "src_train_segments.csv",
                        DatasetOptions(media=str(demo_copy / "media"), features="npz", outputs=("fbank",)))
    loader = torch.utils.data.DataLoader(ds, batch_size=1, num_workers=2)
    with pytest.raises(MediaError, match="empty or truncated"):
        list(loader)


def test_pair_positions_outside_the_clips_are_refused(demo_dir: Path) -> None:
    ds = AVIndexDataset(demo_dir / "index" / "src_train_segments.csv", DatasetOptions(media=str(demo_dir / "media")))
    for pairs in ([(0, 1), (-1, 0)], [(0, len(ds))]):
        with pytest.raises(AvdataError, match=r"pair \d+: .* is not two clip positions"):
            MixtureDataset(ds, MixtureOptions(), pairs=pairs)
    assert len(MixtureDataset(ds, MixtureOptions(), pairs=[(0, 1)])) == 1


def test_shard_weights_that_are_not_finite_stop_the_run_naming_the_line(demo_copy: Path) -> None:
    from reliability_helpers import avdata

    index = demo_copy / "index" / "src_eval_segments.csv"
    lines = len(index.read_text().splitlines())
    for value in ("nan", "-1", "inf"):
        w = demo_copy / f"w_{value}.csv"
        w.write_text("\n".join(["1.0"] * (lines - 1) + [value]) + "\n")
        out = demo_copy / f"s_{value}"
        r = avdata("shards", str(index), "--media", str(demo_copy / "media"), "--out", str(out), "--weights", str(w))
        assert r.returncode == 3 and f"{w}:{lines}: weight '{value}' is not a finite number >= 0" in r.stderr
        assert not out.exists()
