"""Issue 14 end to end against loopback servers: the circuit breaker rides out ban windows (429,
and YouTube's bot-check page through yt-dlp's generic extractor) with nothing recorded failed and
far fewer requests into the ban than a run without it; two forward proxies, one banned, the other
carries the run; ``--max-requests-per-minute`` holds across 4 workers."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from avdata.cli.main import _register_commands, cli
from avdata.fetch import FetchOptions, fetch, fetch_report
from avdata.fetch.schema import FETCH_MANIFEST_SCHEMA
from avdata.manifest import latest, read_manifest
from fetch_tables import clip_table
from loopback import BanPolicy, Behaviour, ForwardProxy, LoopbackServer


def _rows(out: Path) -> dict[str, dict]:
    t = latest(read_manifest(out / "fetch_manifest.parquet", FETCH_MANIFEST_SCHEMA), ["source"])
    return {r["source"]: r for r in t.to_pylist()}


def _serve(server: LoopbackServer, video: bytes, n: int, prefix: str) -> list[str]:
    ids = [f"{prefix[:7]}{i:04d}".ljust(11, "x") for i in range(n)]
    for v in ids:
        server.files[f"/yt/{v}.mp4"] = video
    return ids


def _ytdlp(tmp_path: Path, server: LoopbackServer, name: str, **kw) -> FetchOptions:
    base = dict(source=f"ytdlp:{server.url}/yt/{{id}}.mp4", out=tmp_path / name, workers=4, max_attempts=3,
                backoff=0.05, max_backoff=0.1, min_free_bytes=0, timeout=10.0, progress=False, sections=False,
                breaker_threshold=2, breaker_window=6, cooldowns=(2.5, 4.0), give_up_after=120.0)
    base.update(kw)
    return FetchOptions(**base)


def _check_paused_and_resumed(caplog: pytest.LogCaptureFixture) -> None:
    paused = [r.message for r in caplog.records if "fetch paused" in r.message]
    resumed = [r.message for r in caplog.records if "fetch resumed" in r.message]
    assert paused and resumed, caplog.text
    assert "item(s) waiting" in paused[0] and "--proxies" in paused[0] and " UTC" in paused[0]


@pytest.mark.slow
def test_breaker_rides_out_429_windows(tmp_path: Path, server: LoopbackServer, small_video: bytes,
                                       caplog: pytest.LogCaptureFixture) -> None:
    """429 for 1 s after every 20 requests: with the breaker all 30 arrive, none is recorded failed,
    and far fewer requests hit the ban windows than without it (counted by the server)."""
    ids = _serve(server, small_video, 30, "banned")
    clips = clip_table(tmp_path / "clips.parquet", [(v, "youtube") for v in ids])
    base = dict(source=server.url + "/yt/{id}.mp4", workers=4, max_attempts=3, backoff=0.05, max_backoff=0.1,
                min_free_bytes=0, progress=False, breaker_threshold=2, breaker_window=6, cooldowns=(1.5, 3.0))

    server.ban = BanPolicy(every=20, window=1.0)
    caplog.set_level(logging.WARNING, logger="avdata.fetch")
    opts = FetchOptions(out=tmp_path / "with", **base)
    summary = fetch(clips, opts)
    assert summary.counts == {"ok": 30} and summary.failed == 0
    rows = _rows(opts.out)
    assert all((opts.out / rows[v]["path"]).read_bytes() == small_video for v in ids)
    _check_paused_and_resumed(caplog)
    with_breaker = len(server.refusals)
    assert summary.routes["routes"]["direct"]["trips"] >= 1 and summary.routes["paused_seconds"] > 0
    report = fetch_report(opts.manifest_path(), clips, opts.run_log_path()).format()
    assert "obtained 30 of 30 videos (100.00%)" in report and "route direct: trips" in report

    # the same list without the breaker: the workers keep knocking during every ban window
    server.refusals.clear()
    server.ban = BanPolicy(every=20, window=1.0)
    opts = FetchOptions(out=tmp_path / "without", **{**base, "breaker_threshold": 0, "max_attempts": 1000})
    assert fetch(clips, opts).counts == {"ok": 30}
    without = len(server.refusals)
    print(f"requests refused during ban windows: {with_breaker} with the breaker, {without} without")
    assert with_breaker < without / 2, (with_breaker, without)


@pytest.mark.slow
def test_bot_check_page_through_ytdlp_trips_the_breaker(tmp_path: Path, server: LoopbackServer,
                                                        small_video: bytes, caplog: pytest.LogCaptureFixture) -> None:
    """A 200 page with YouTube's bot-check message (yt-dlp's generic extractor takes it for the
    video; the probe reads it): the breaker pauses, all 30 arrive, none is recorded failed."""
    ids = _serve(server, small_video, 30, "botchk")
    clips = clip_table(tmp_path / "clips.parquet", [(v, "youtube") for v in ids])
    server.ban = BanPolicy(every=20, window=2.0, mode="botcheck")
    caplog.set_level(logging.WARNING, logger="avdata.fetch")
    opts = _ytdlp(tmp_path, server, "out")
    summary = fetch(clips, opts)
    assert summary.counts == {"ok": 30} and summary.failed == 0
    rows = _rows(opts.out)
    assert all((opts.out / rows[v]["path"]).read_bytes() == small_video for v in ids)
    assert server.refusals and summary.routes["routes"]["direct"]["attempts"]["rate_limited"] >= 2
    _check_paused_and_resumed(caplog)


@pytest.mark.slow
def test_two_proxies_one_banned_the_other_carries_the_run(tmp_path: Path, server: LoopbackServer,
                                                          small_video: bytes) -> None:
    ids = _serve(server, small_video, 12, "proxied")
    clips = clip_table(tmp_path / "clips.parquet", [(v, "youtube") for v in ids])
    with ForwardProxy("proxy-a") as a, ForwardProxy("proxy-b") as b:
        server.ban = BanPolicy(every=1, window=1e9, via=frozenset({"proxy-a"}))   # a is banned for good
        plist = tmp_path / "proxies.txt"
        plist.write_text(f"{a.url}\n{b.url}\n")
        out = tmp_path / "out"
        _register_commands()
        res = CliRunner().invoke(cli, [
            "fetch", str(clips), "--source", f"ytdlp:{server.url}/yt/{{id}}.mp4", "--out", str(out),
            "--proxies", str(plist), "--breaker", "2/4", "--cooldowns", "600", "--whole", "--min-free", "0",
            "--backoff", "0.05", "--no-progress", "--report"])
        assert res.exit_code == 0, res.output
        assert a.requests >= 1 and b.requests >= len(ids)
    rows = _rows(out)
    assert all(rows[v]["status"] == "ok" and (out / rows[v]["path"]).read_bytes() == small_video for v in ids)
    via = {v for *_, v in server.log}
    assert via == {"proxy-a", "proxy-b"}                      # nothing went around the proxies
    assert f"route {a.url}: trips 1" in res.output and f"route {b.url}: trips 0" in res.output
    assert "rate_limited" in res.output.split(f"route {a.url}")[1].splitlines()[0]
    assert f"ok {len(ids)}" in res.output.split(f"route {b.url}")[1].splitlines()[0]


@pytest.mark.slow
def test_max_requests_per_minute_holds_across_4_workers(tmp_path: Path, server: LoopbackServer,
                                                        small_video: bytes) -> None:
    ids = _serve(server, small_video, 16, "paced")
    clips = clip_table(tmp_path / "clips.parquet", [(v, "youtube") for v in ids])
    rate = 300.0                                            # one request every 0.2 s
    opts = FetchOptions(source=server.url + "/yt/{id}.mp4", out=tmp_path / "out", workers=4, min_free_bytes=0,
                        progress=False, max_requests_per_minute=rate, pacing_jitter=0.3)
    assert fetch(clips, opts).counts == {"ok": 16}
    times = sorted(t for t, *_ in server.log)
    assert len(times) == 32                                 # a HEAD and a GET per video
    for window in (1.0, 2.0, 60.0 * 2 / rate * 10):
        worst = max(sum(1 for t in times if t0 <= t < t0 + window) for t0 in times)
        assert worst <= window * rate / 60.0 + 1, (window, worst)
    assert times[-1] - times[0] >= (len(times) - 1) * 60.0 / rate * 0.95


def test_a_run_banned_past_give_up_after_stops_cleanly_and_a_rerun_continues(
        tmp_path: Path, server: LoopbackServer, small_video: bytes) -> None:
    ids = _serve(server, small_video, 6, "giveup")
    clips = clip_table(tmp_path / "clips.parquet", [(v, "youtube") for v in ids])
    server.ban = BanPolicy(every=4, window=1e9)             # two videos, then banned for good
    out = tmp_path / "out"
    args = ["fetch", str(clips), "--source", server.url + "/yt/{id}.mp4", "--out", str(out), "--workers", "1",
            "--breaker", "2/4", "--cooldowns", "0.3,0.6", "--give-up-after", "1.5", "--backoff", "0.01",
            "--min-free", "0", "--no-progress"]
    _register_commands()
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 1 and "Traceback" not in res.output, res.output
    assert "fetch stopped: the source stayed banned past --give-up-after" in res.output
    assert "fetch paused at " in res.output and "item(s) waiting" in res.output      # the trip, one line
    rows = _rows(out)
    assert {r["status"] for r in rows.values()} == {"ok"} and len(rows) == 2     # nothing recorded failed
    server.ban = None
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    rows = _rows(out)
    assert all(rows[v]["status"] == "ok" and (out / rows[v]["path"]).read_bytes() == small_video for v in ids)


def test_url_backend_goes_through_http_proxies_and_refuses_socks_up_front(
        tmp_path: Path, server: LoopbackServer, small_video: bytes) -> None:
    ids = _serve(server, small_video, 4, "urlpx")
    clips = clip_table(tmp_path / "clips.parquet", [(v, "youtube") for v in ids])
    plist = tmp_path / "proxies.txt"
    with ForwardProxy("proxy-u") as p:
        plist.write_text(p.url + "\n")
        opts = FetchOptions(source=server.url + "/yt/{id}.mp4", out=tmp_path / "out", proxies=plist,
                            min_free_bytes=0, progress=False)
        assert fetch(clips, opts).counts == {"ok": 4}
    assert {v for *_, v in server.log} == {"proxy-u"} and p.requests == 8       # HEAD + GET each
    plist.write_text("socks5://127.0.0.1:1\n")
    bad = subprocess.run([sys.executable, "-m", "avdata", "fetch", str(clips), "--source",
                          server.url + "/yt/{id}.mp4", "--out", str(tmp_path / "out2"), "--proxies", str(plist)],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 3 and bad.stderr.count("\n") == 1, bad.stderr
    assert "http:// or https:// proxies only" in bad.stderr
    assert not (tmp_path / "out2" / "fetch_manifest.parquet").exists()


@pytest.mark.slow
def test_ytdlp_429_waits_for_retry_after_and_is_not_an_attempt(tmp_path: Path, server: LoopbackServer,
                                                               small_video: bytes) -> None:
    ids = _serve(server, small_video, 1, "retryaf")
    server.behaviours[f"/yt/{ids[0]}.mp4"] = Behaviour(fail_first=2, fail_status=429,
                                                       fail_headers={"Retry-After": "1"})
    clips = clip_table(tmp_path / "clips.parquet", [(ids[0], "youtube")])
    opts = _ytdlp(tmp_path, server, "out", max_attempts=1, workers=1)
    assert fetch(clips, opts).counts == {"ok": 1}          # two 429s did not use up the one attempt
    gets = [t for t, method, path, _ in server.log if method == "GET" and path == f"/yt/{ids[0]}.mp4"]
    assert len(gets) >= 3 and all(b - a >= 0.95 for a, b in zip(gets[:2], gets[1:3])), gets
    assert _rows(opts.out)[ids[0]]["attempts"] == 3
