"""``fetch``'s ``--executor`` without Ray: ``inline`` downloads one video at a time, the default
(``local``) keeps ``--workers`` in flight, an unknown name stops before anything is written."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from avdata.cli.main import _register_commands, cli
from avdata.errors import AvdataError
from avdata.fetch import FetchOptions, fetch
from fetch_tables import clip_table
from loopback import Behaviour, LoopbackServer


def _most_in_flight(server: LoopbackServer) -> int:
    """Largest number of GET bodies being sent at once (each body takes >= 0.3 s)."""
    spans = sorted(server.spans)
    return max(sum(1 for s, e in spans if s <= t < e) for t, _ in spans)


class _TimedServer(LoopbackServer):
    """Records (start, end) of every GET answer."""

    def __init__(self, files: dict[str, bytes]) -> None:
        super().__init__(files)
        self.spans: list[tuple[float, float]] = []

    def _answer(self, h, head: bool) -> None:  # noqa: ANN001
        t0 = time.monotonic()
        super()._answer(h, head)
        if not head:
            self.spans.append((t0, time.monotonic()))     # list.append is atomic


@pytest.mark.parametrize(("executor", "workers", "expected"), [("inline", 4, 1), ("local", 3, 3)])
def test_inline_fetches_one_at_a_time_and_local_keeps_workers_in_flight(
        tmp_path: Path, small_video: bytes, executor: str, workers: int, expected: int) -> None:
    ids = [f"inflight{i:03d}" for i in range(6)]
    with _TimedServer({f"/v/{v}.mp4": small_video for v in ids}) as server:
        for v in ids:
            server.behaviours[f"/v/{v}.mp4"] = Behaviour(delay=0.3)
        clips = clip_table(tmp_path / "clips.parquet", [(v, "youtube") for v in ids])
        opts = FetchOptions(source=server.url + "/v/{id}.mp4", out=tmp_path / "out", workers=workers,
                            executor=executor, min_free_bytes=0, progress=False)
        assert fetch(clips, opts).counts == {"ok": 6}
        assert _most_in_flight(server) == expected
    assert all((tmp_path / "out" / f"{v}.mp4").read_bytes() == small_video for v in ids)


def test_an_unknown_executor_stops_before_any_work(tmp_path: Path) -> None:
    clips = clip_table(tmp_path / "clips.parquet", [("abcdefghijk", "youtube")])
    opts = FetchOptions(source="http://127.0.0.1:9/{id}.mp4", out=tmp_path / "out", executor="nope",
                        min_free_bytes=0, progress=False)
    with pytest.raises(AvdataError, match="unknown executor 'nope'"):
        fetch(clips, opts)
    assert not (tmp_path / "out" / "fetch_manifest.parquet").exists()
    _register_commands()
    res = CliRunner().invoke(cli, ["fetch", str(clips), "--source", "http://127.0.0.1:9/{id}.mp4",
                                   "--out", str(tmp_path / "out2"), "--executor", "nope"])
    assert res.exit_code == 2 and "Traceback" not in res.output and "nope" in res.output
