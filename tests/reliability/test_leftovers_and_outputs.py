"""Leftovers of killed workers and output folders that are files (issue 25, defects 11, 16, 17)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from avdata.atomic import TEMP_PREFIX
from avdata.loaders import AVIndexDataset, DatasetOptions
from avdata.loaders import shards as shards_module
from avdata.loaders.lazy_index import sidecar_path
from avdata.loaders.shards import ShardOptions, write_shards
from reliability_helpers import avdata


@pytest.mark.parametrize("command", [
    ["embed", "{D}/index/src_eval_segments.csv", "--media", "{D}/media", "-o", "{F}"],
    ["shards", "{D}/index/src_eval_segments.csv", "--media", "{D}/media", "--out", "{F}"],
    ["render", "{D}/lists/audioscope.parquet", "--videos", "{D}/audioscope/videos", "--out", "{F}"],
    ["mom", "{D}/audioscope/clips_rated.parquet", "-o", "{F}"],
    ["report", "{D}/index/src_eval_segments.csv", "--out", "{F}"],
])
def test_an_output_folder_that_is_a_file_is_one_line_exit_3(demo_dir: Path, tmp_path: Path,
                                                           command: list[str]) -> None:
    f = tmp_path / "a_file"
    f.write_text("the user's")
    r = avdata(*[a.replace("{D}", str(demo_dir)).replace("{F}", str(f)) for a in command])
    assert r.returncode == 3 and r.stderr.strip().splitlines() == [
        f"avdata: error: cannot write {command[-2] if command[-2] != '-o' else '--out'} {f}: is a file, not a directory"]
    assert f.read_text() == "the user's"


def test_a_worker_that_was_still_ending_at_the_start_leaves_nothing_after_the_run(
        demo_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = demo_copy / "s"
    out.mkdir()
    ending = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    partial = out / f"{TEMP_PREFIX}{ending.pid}-0123abcd-src_eval_segments-000000.tar"
    partial.write_bytes(b"\0" * 1024)
    real = shards_module.write_shard

    def write_and_let_it_die(job):          # the killed run's worker ends while this run works
        if ending.poll() is None:
            ending.kill()
            ending.wait()
        return real(job)

    monkeypatch.setattr(shards_module, "write_shard", write_and_let_it_die)
    try:
        res = write_shards(ShardOptions(index=str(demo_copy / "index" / "src_eval_segments.csv"),
                                        media=str(demo_copy / "media"), out=str(out), executor="inline"))
    finally:
        ending.kill()
    assert res.shard_list is not None and not res.failed
    assert not partial.exists() and not [p for p in out.iterdir() if p.name.startswith(TEMP_PREFIX)]


@pytest.mark.parametrize("damage", [b"", b"\x93NUMPY"])
def test_a_damaged_offsets_sidecar_is_rebuilt(demo_copy: Path, damage: bytes) -> None:
    index = demo_copy / "index" / "src_eval_segments.csv"
    ds = AVIndexDataset(index, DatasetOptions(media=str(demo_copy / "media")))
    n, last = len(ds), ds.record(len(ds) - 1)["id"]
    del ds          # its map of the sidecar goes (a file cut under a live map is SIGBUS for anyone)
    sidecar = sidecar_path(index)
    sidecar.unlink()
    sidecar.write_bytes(damage)
    again = AVIndexDataset(index, DatasetOptions(media=str(demo_copy / "media")))
    assert len(again) == n and again.record(n - 1)["id"] == last


def test_click_never_turns_an_end_of_file_into_aborted(tmp_path: Path) -> None:
    """A zero-byte embeddings matrix used to end as exit 130 'avdata: aborted'."""
    from avdata.cli.main import main

    code = subprocess.run([sys.executable, "-c", "import sys; from avdata.cli.main import cli, main\n"
                           "@cli.command('eof')\ndef eof():\n    raise EOFError('No data left in file')\n"
                           "main(['eof'])"], capture_output=True, text=True)
    assert code.returncode == 3 and "a file ended early (EOFError: No data left in file)" in code.stderr
    assert callable(main)


def test_an_exited_but_unreaped_worker_does_not_count_as_alive(tmp_path: Path) -> None:
    """A SIGKILLed worker whose parent died stays a zombie where init does not reap: its temporary
    files must still be swept (defect 17)."""
    from avdata.atomic import _alive, sweep_temp_files

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:          # exited, not yet waited for: a zombie
        with open(f"/proc/{child.pid}/stat", "rb") as fh:
            if fh.read().rsplit(b")", 1)[1][1:2] == b"Z":
                break
        time.sleep(0.01)
    try:
        assert not _alive(child.pid)
        leftover = tmp_path / f"{TEMP_PREFIX}{child.pid}-0123abcd-x.tar"
        leftover.write_bytes(b"partial")
        assert sweep_temp_files(tmp_path) == 1 and not leftover.exists()
        sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        try:
            assert _alive(sleeper.pid)
        finally:
            sleeper.kill()
            sleeper.wait()
    finally:
        child.wait()
