"""``avdata fetch --executor ray`` on a real local Ray instance against loopback servers: each
download attempt is a Ray task, the control plane (retries, breakers, manifest) stays in the driver.

Same files, rows and archive as the default threads; a worker SIGKILLed mid-download is retried and
nothing is missing; 429s still trip the driver's breaker (and a run banned for good gives up
cleanly); a 404 is its permanent row; a file never sits under its final name unarchived."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import av
import pytest
from click.testing import CliRunner

ray = pytest.importorskip("ray", reason="the ray extra is not installed (pip install -e '.[ray]')")

from avdata.cli.main import _register_commands, cli  # noqa: E402
from avdata.fetch import FetchOptions, fetch  # noqa: E402
from avdata.fetch.schema import FETCH_MANIFEST_SCHEMA  # noqa: E402
from avdata.manifest import latest, read_manifest  # noqa: E402
from avdata.media.synth import SynthSpec, make_video  # noqa: E402
from fetch_tables import clip_table  # noqa: E402
from loopback import BanPolicy, Behaviour, LoopbackServer  # noqa: E402

TIMING = ("seconds", "finished_at")
IDS = [f"rayvid{i:05d}" for i in range(6)]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """Six distinct small MP4s (64x48, 10 fps, mono audio), served as ``/v/{id}.mp4``."""
    folder = tmp_path_factory.mktemp("rayfetch")
    files = {}
    for i, vid in enumerate(IDS):
        p = folder / f"{vid}.mp4"
        make_video(p, SynthSpec(duration=1.0 + 0.2 * i, width=64, height=48, fps=10, channels=1,
                                sample_rate=16000, audio_bitrate=32000, keyint_seconds=1.0))
        files[f"/v/{vid}.mp4"] = p.read_bytes()
    return files


def _options(out: Path, url: str, **kw) -> FetchOptions:
    base = dict(source=url + "/v/{id}.mp4", out=out, workers=3, max_attempts=3, backoff=0.01, max_backoff=0.05,
                min_free_bytes=0, timeout=10.0, progress=False)
    return FetchOptions(**{**base, **kw})


def _rows(out: Path) -> dict[str, dict]:
    t = latest(read_manifest(out / "fetch_manifest.parquet", FETCH_MANIFEST_SCHEMA), ["source"])
    return {r["source"]: {k: v for k, v in r.items() if k not in TIMING and k != "_seq"} for r in t.to_pylist()}


def _archive(out: Path) -> list[dict]:
    rows = [json.loads(line) for line in (out / "fetch_archive.jsonl").read_text().splitlines()]
    return sorted(({k: v for k, v in r.items() if k not in TIMING} for r in rows),
                  key=lambda r: (r["source"], r["attempts"], bool(r["deleted"])))


def _check_video(path: Path, expected: bytes) -> None:
    """The bytes served, and they decode (probe-checked)."""
    assert path.read_bytes() == expected
    with av.open(str(path)) as c:
        assert c.streams.video and c.streams.audio
        assert sum(1 for _ in c.decode(video=0)) >= 10


class LandingWatcher:
    """Polls ``out`` while a run goes: each time a final ``{id}.mp4`` appears, its archive row must
    already be there (the archive row is written before the final rename, here by a Ray worker)."""

    def __init__(self, out: Path, ids: list[str]) -> None:
        self.out, self.names = out, {f"{v}.mp4": v for v in ids}
        self.seen: dict[str, bool] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                present = [n for n in os.listdir(self.out) if n in self.names and n not in self.seen]
            except FileNotFoundError:
                present = []
            if present:
                archive = self.out / "fetch_archive.jsonl"
                text = archive.read_text() if archive.exists() else ""
                archived = {json.loads(line)["source"] for line in text.splitlines() if line.endswith("}")}
                for n in present:
                    self.seen[n] = self.names[n] in archived
            time.sleep(0.002)

    def __enter__(self) -> "LandingWatcher":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=10)


@pytest.mark.slow
def test_ray_fetch_gives_the_same_files_rows_and_archive_as_threads(ray_session: None, tmp_path: Path,
                                                                      corpus: dict[str, bytes]) -> None:
    gone = "raygone0404"
    clips = clip_table(tmp_path / "clips.parquet", [(v, "youtube") for v in [*IDS, gone]])
    runs = {}
    with LoopbackServer(dict(corpus)) as server:
        for name, executor in (("threads", "local"), ("ray", "ray")):
            server.gets.clear()
            server.behaviours[f"/v/{IDS[2]}.mp4"] = Behaviour(fail_first=1, fail_status=500)   # one retry
            opts = _options(tmp_path / name, server.url, executor=executor)
            with LandingWatcher(opts.out, IDS) as watcher:
                summary = fetch(clips, opts)
            runs[name] = (summary, _rows(opts.out), _archive(opts.out), dict(server.gets), watcher.seen)
    (s1, rows1, arch1, gets1, _), (s2, rows2, arch2, gets2, seen) = runs["threads"], runs["ray"]
    assert s1.counts == s2.counts == {"ok": 6, "not_found": 1}
    assert rows1 == rows2
    assert rows2[IDS[2]]["attempts"] == 2 and gets2[f"/v/{IDS[2]}.mp4"] == 2
    assert (rows2[gone]["status"], rows2[gone]["transient"], rows2[gone]["attempts"]) == ("not_found", False, 1)
    assert arch1 == arch2 and {r["source"] for r in arch2} == set(IDS)      # the landing row + the final one
    assert sorted(r["attempts"] for r in arch2 if r["source"] == IDS[2]) == [0, 2]
    assert gets1 == gets2
    for vid in IDS:
        assert (tmp_path / "threads" / f"{vid}.mp4").read_bytes() == (tmp_path / "ray" / f"{vid}.mp4").read_bytes()
        _check_video(tmp_path / "ray" / rows2[vid]["path"], corpus[f"/v/{vid}.mp4"])
    assert seen and all(seen.values()), seen


def _pid_of_client(client_port: int, server_port: int) -> int | None:
    """The process holding the loopback TCP connection ``client_port`` -> ``server_port`` (Linux /proc)."""
    local, remote = f"0100007F:{client_port:04X}", f"0100007F:{server_port:04X}"
    inode = next((f[9] for f in (line.split() for line in Path("/proc/net/tcp").read_text().splitlines()[1:])
                  if f[1] == local and f[2] == remote), None)
    if inode in (None, "0"):
        return None
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if any(os.readlink(fd) == f"socket:[{inode}]" for fd in (proc / "fd").iterdir()):
                    return int(proc.name)
            except OSError:
                continue
    return None


@pytest.mark.slow
def test_worker_killed_mid_download_is_retried_and_nothing_is_missing(ray_session: None, tmp_path: Path,
                                                                      corpus: dict[str, bytes]) -> None:
    clips = clip_table(tmp_path / "clips.parquet", [(v, "youtube") for v in IDS])
    slow = f"/v/{IDS[3]}.mp4"
    with LoopbackServer(dict(corpus)) as server:
        server.behaviours[slow] = Behaviour(stall_first=1, stall=60.0)    # half the body, then nothing
        opts = _options(tmp_path / "out", server.url, executor="ray")
        box: dict = {}
        run = threading.Thread(target=lambda: box.update(summary=fetch(clips, opts)))
        run.start()
        pid = None
        deadline = time.monotonic() + 90
        while pid is None and time.monotonic() < deadline:
            peers = [addr for path, addr in list(server.peers) if path == slow]
            pid = _pid_of_client(peers[0][1], server.httpd.server_port) if peers else None
            time.sleep(0.05)
        assert pid is not None and pid != os.getpid()
        assert b"ray::" in Path(f"/proc/{pid}/cmdline").read_bytes()      # a Ray worker, mid-download
        os.kill(pid, signal.SIGKILL)
        run.join(timeout=120)
        assert not run.is_alive()
        gets = dict(server.gets)
    assert box["summary"].counts == {"ok": 6}
    assert gets[slow] == 2                         # Ray ran the attempt again on a fresh worker
    rows = _rows(opts.out)
    assert rows[IDS[3]]["attempts"] == 1           # ... inside the item's one attempt
    for vid in IDS:
        _check_video(opts.out / rows[vid]["path"], corpus[f"/v/{vid}.mp4"])
    assert not Path(f"/proc/{pid}").exists()


@pytest.mark.slow
def test_429s_from_workers_trip_the_drivers_breaker_and_the_run_completes(ray_session: None, tmp_path: Path,
                                                                          corpus: dict[str, bytes]) -> None:
    files = {f"/v/{v}{k}.mp4"[:-4].ljust(14, "x") + ".mp4": b for k in "ab" for v, b in
             ((p[3:-4], b) for p, b in corpus.items())}
    ids = [p[3:-4] for p in files]
    clips = clip_table(tmp_path / "clips.parquet", [(v, "youtube") for v in ids])
    with LoopbackServer(files) as server:
        server.ban = BanPolicy(every=8, window=1.0)          # 429 for 1 s after every 8 requests
        opts = _options(tmp_path / "out", server.url, executor="ray", workers=4, breaker_threshold=2,
                        breaker_window=6, cooldowns=(1.0, 2.0), give_up_after=120.0)
        summary = fetch(clips, opts)
        refused = len(server.refusals)
    assert summary.counts == {"ok": 12} and refused > 0
    assert summary.routes["routes"]["direct"]["trips"] >= 1
    assert summary.routes["routes"]["direct"]["attempts"]["rate_limited"] >= 1
    rows = _rows(opts.out)
    for vid in ids:
        assert (opts.out / rows[vid]["path"]).read_bytes() == files[f"/v/{vid}.mp4"]


@pytest.mark.slow
def test_banned_for_good_the_ray_run_gives_up_cleanly_and_a_404_keeps_its_row(ray_session: None, tmp_path: Path,
                                                                              corpus: dict[str, bytes]) -> None:
    """Through the CLI: the driver gives up past --give-up-after, which cancels the attempt still in
    flight on its worker (a stalled download) at once; nothing unfinished is recorded failed."""
    gone = "raygone0404"
    clips = clip_table(tmp_path / "clips.parquet", [(v, "youtube") for v in [gone, *IDS]])
    out = tmp_path / "out"
    stalled = f"/v/{IDS[0]}.mp4"
    _register_commands()
    with LoopbackServer(dict(corpus)) as server:
        server.behaviours[stalled] = Behaviour(stall_first=1, stall=300.0)
        args = ["fetch", str(clips), "--source", server.url + "/v/{id}.mp4", "--out", str(out), "--workers", "2",
                "--executor", "ray", "--breaker", "2/4", "--cooldowns", "0.3,0.6", "--give-up-after", "1.5",
                "--backoff", "0.01", "--min-free", "0", "--no-progress"]
        box: dict = {}
        run = threading.Thread(target=lambda: box.update(res=CliRunner().invoke(cli, args)))
        run.start()
        deadline = time.monotonic() + 90     # the 404 answered and the stalled download in flight ...
        while not (server.gets[stalled] and server.heads[f"/v/{gone}.mp4"]) and time.monotonic() < deadline:
            time.sleep(0.05)
        t0 = time.monotonic()                # ... then banned for good
        server.ban = BanPolicy(every=1, window=1e9, until=t0 + 1e9)
        run.join(timeout=120)
        took = time.monotonic() - t0
        res = box["res"]
        assert res.exit_code == 1 and "Traceback" not in res.output, res.output
        assert "fetch stopped: the source stayed banned past --give-up-after" in res.output
        assert server.gets[stalled] == 1 and took < 20    # the stalled attempt (60 s read timeout) did not hold it
        rows = _rows(out)
        assert (rows[gone]["status"], rows[gone]["transient"], rows[gone]["attempts"]) == ("not_found", False, 1)
        assert {r["status"] for v, r in rows.items() if v != gone} <= {"ok"} and IDS[0] not in rows
        server.ban = None
        res = CliRunner().invoke(cli, args)                 # the rerun finishes the list, skips the 404
    assert res.exit_code == 0 and "known failures skipped: 1" in res.output, res.output
    rows = _rows(out)
    for vid in IDS:
        _check_video(out / rows[vid]["path"], corpus[f"/v/{vid}.mp4"])


@pytest.mark.slow
def test_pacing_holds_across_ray_workers(ray_session: None, tmp_path: Path, corpus: dict[str, bytes]) -> None:
    """--max-requests-per-minute with 4 attempts in flight on separate Ray worker processes: their
    pacers share the slot file under the output root, so the host sees the rate, not 4 times it."""
    clips = clip_table(tmp_path / "clips.parquet", [(v, "youtube") for v in IDS])
    rate = 300.0                                            # one request every 0.2 s
    with LoopbackServer(dict(corpus)) as server:
        opts = _options(tmp_path / "out", server.url, executor="ray", workers=4, max_requests_per_minute=rate,
                        pacing_jitter=0.3)
        assert fetch(clips, opts).counts == {"ok": 6}
        times = sorted(t for t, *_ in server.log)
    assert len(times) == 12                                 # a HEAD and a GET per video
    for window in (1.0, 2.0):
        worst = max(sum(1 for t in times if t0 <= t < t0 + window) for t0 in times)
        assert worst <= window * rate / 60.0 + 1, (window, worst)
    assert times[-1] - times[0] >= (len(times) - 1) * 60.0 / rate * 0.95
    assert [p.name for p in (opts.out / ".avdata-pacing").iterdir()] == ["127.0.0.1.slot"]
