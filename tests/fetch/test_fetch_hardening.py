"""Issue 8 defects 7, 8, 9, 15 and the HTTP parts of 16, through the CLI where users met them:
temporary files, long names, non-media bodies, the link rule, trickling servers, HTTP messages
and Retry-After."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from avdata.atomic import TEMP_PREFIX
from avdata.cli.main import _register_commands, cli
from avdata.fetch import FetchOptions, fetch
from avdata.fetch.schema import FETCH_MANIFEST_SCHEMA
from avdata.manifest import latest, read_manifest
from fetch_tables import clip_table
from loopback import Behaviour, LoopbackServer


def _rows(out: Path) -> dict[str, dict]:
    t = latest(read_manifest(out / "fetch_manifest.parquet", FETCH_MANIFEST_SCHEMA), ["source"])
    return {r["source"]: r for r in t.to_pylist()}


def _run(*args: str) -> tuple[int, str]:
    _register_commands()
    res = CliRunner().invoke(cli, ["fetch", *args, "--min-free", "0", "--no-progress"])
    assert "Traceback" not in res.output, res.output
    return res.exit_code, res.output


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_fetch_keeps_the_users_tmp_files_and_sweeps_its_own(tmp_path: Path, small_video: bytes) -> None:
    """Defect 7: ``u/notes/.tmp-123-important.doc`` survives ``avdata fetch ... --out u``."""
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "a.mp4").write_bytes(small_video)
    out = tmp_path / "u"
    (out / "notes").mkdir(parents=True)
    mine = [out / "notes" / ".tmp-123-important.doc", out / ".tmp-1-ab-x.mp4", out / ".tmp-notes"]
    for p in mine:
        p.write_text("the user's own")
    leftover = out / f"{TEMP_PREFIX}{_dead_pid()}-0123abcd-a.mp4"
    leftover.write_bytes(b"half a download")
    clips = clip_table(tmp_path / "clips.parquet", [("a.mp4", "path")])
    code, output = _run(str(clips), "--source", f"dir:{tree}", "--out", str(out), "--link")
    assert code == 0, output
    assert all(p.read_text() == "the user's own" for p in mine)
    assert not leftover.exists()
    assert (out / "a.mp4").read_bytes() == small_video


def test_long_names_fit_and_too_long_is_a_clear_permanent_error(tmp_path: Path, server: LoopbackServer,
                                                                small_video: bytes) -> None:
    """Defect 15: names of 236..255 bytes are fetched; 256 bytes is ``name_too_long``, tried once."""
    names = {n: "v" * (n - 4) + ".mp4" for n in (236, 250, 255, 256)}
    for name in names.values():
        server.files[f"/v/{name}"] = small_video
    clips = clip_table(tmp_path / "clips.parquet", [(name, "path") for name in names.values()])
    out = tmp_path / "out"
    code, output = _run(str(clips), "--source", server.url + "/v/{path}", "--out", str(out), "--backoff", "0.01")
    assert code == 1, output
    rows = _rows(out)
    for n in (236, 250, 255):
        assert rows[names[n]]["status"] == "ok" and (out / names[n]).read_bytes() == small_video
    bad = rows[names[256]]
    assert (bad["status"], bad["transient"], bad["attempts"]) == ("name_too_long", False, 1)
    assert "256 bytes, the file system allows 255" in bad["message"]
    assert sorted(p.name for p in out.iterdir() if p.suffix == ".mp4") == sorted(names[n] for n in (236, 250, 255))


def test_a_page_served_with_200_is_not_recorded_ok(tmp_path: Path, server: LoopbackServer,
                                                   small_video: bytes) -> None:
    """Defect 8: an HTML body is ``not_media`` (permanent); a damaged binary body ``bad_media``
    (transient); a bot-check page ``rate_limited``; nothing lands under a final name."""
    server.files["/v/htmlpage001.mp4"] = b"<!doctype html><html><body>Welcome! Please log in.</body></html>"
    server.behaviours["/v/htmlpage001.mp4"] = Behaviour(content_type="text/html")
    server.files["/v/garbage0001.mp4"] = bytes(range(256)) * 40
    server.files["/v/botcheck001.mp4"] = b"Sign in to confirm you're not a bot. This helps protect our community."
    server.files["/v/goodvideo01.mp4"] = small_video
    ids = ["htmlpage001", "garbage0001", "botcheck001", "goodvideo01"]
    clips = clip_table(tmp_path / "clips.parquet", [(v, "youtube") for v in ids])
    out = tmp_path / "out"
    code, output = _run(str(clips), "--source", server.url + "/v/{id}.mp4", "--out", str(out), "--backoff",
                        "0.01", "--max-attempts", "2", "--breaker", "0")
    assert code == 1, output
    rows = _rows(out)
    got = {v: (rows[v]["status"], rows[v]["transient"]) for v in ids}
    assert got == {"htmlpage001": ("not_media", False), "garbage0001": ("bad_media", True),
                   "botcheck001": ("rate_limited", True), "goodvideo01": ("ok", None)}
    assert "Please log in" in rows["htmlpage001"]["message"]
    assert sorted(p.name for p in out.iterdir() if p.suffix == ".mp4") == ["goodvideo01.mp4"]
    # the permanent verdict stands on a rerun; the transient ones are tried again
    before = server.gets["/v/htmlpage001.mp4"], server.gets["/v/garbage0001.mp4"]
    _run(str(clips), "--source", server.url + "/v/{id}.mp4", "--out", str(out), "--backoff", "0.01",
         "--max-attempts", "1", "--breaker", "0")
    assert server.gets["/v/htmlpage001.mp4"] == before[0] and server.gets["/v/garbage0001.mp4"] == before[1] + 1


def test_one_link_rule_for_the_file_template(tmp_path: Path, small_video: bytes) -> None:
    """Defect 8: a ``file://`` tree follows the user's links like ``dir:`` and extract, but a link to
    something that is not media (``passwd.mp4 -> /etc/passwd``) is never copied."""
    src = tmp_path / "src"
    src.mkdir()
    secret = tmp_path / "passwd"
    secret.write_text("root:x:0:0:root:/root:/bin/bash\n")
    (src / "passwd.mp4").symlink_to(secret)
    disk2 = tmp_path / "disk2"
    disk2.mkdir()
    (disk2 / "far.mp4").write_bytes(small_video)
    (src / "other").symlink_to(disk2)
    clips = clip_table(tmp_path / "clips.parquet", [("passwd.mp4", "path"), ("other/far.mp4", "path"),
                                                    ("../passwd", "path")])
    out = tmp_path / "out"
    code, output = _run(str(clips), "--source", f"file://{src}/{{path}}", "--out", str(out))
    assert code == 1, output
    rows = _rows(out)
    assert rows["passwd.mp4"]["status"] == "not_media" and rows["../passwd"]["status"] == "unsafe_path"
    assert rows["other/far.mp4"]["status"] == "ok" and (out / "other" / "far.mp4").read_bytes() == small_video
    assert not any("root:" in p.read_text(errors="ignore") for p in out.rglob("*") if p.is_file()
                   and p.suffix != ".parquet")


@pytest.mark.slow
def test_a_trickling_server_cannot_hang_fetch(tmp_path: Path, server: LoopbackServer, small_video: bytes) -> None:
    """Defect 9: 1 byte every 0.25 s under ``--timeout 5 --max-attempts 2``: the total time limit
    ends each attempt (``timeout``, transient); so does the minimum rate (``too_slow``)."""
    server.files["/v/trickle0001.mp4"] = small_video
    server.behaviours["/v/trickle0001.mp4"] = Behaviour(trickle=0.25)
    clips = clip_table(tmp_path / "clips.parquet", [("trickle0001", "youtube")])
    base = [str(clips), "--source", server.url + "/v/{id}.mp4", "--timeout", "5", "--max-attempts", "2",
            "--backoff", "0.01"]
    t0 = time.monotonic()
    code, output = _run(*base, "--out", str(tmp_path / "a"), "--max-time", "2")
    assert code == 1 and time.monotonic() - t0 < 20, output
    row = _rows(tmp_path / "a")["trickle0001"]
    assert (row["status"], row["transient"], row["attempts"]) == ("timeout", True, 2)
    assert "longer than 2 s" in row["message"]
    t0 = time.monotonic()
    code, output = _run(*base, "--out", str(tmp_path / "b"), "--min-rate", "100", "--rate-window", "1.5")
    assert code == 1 and time.monotonic() - t0 < 20, output
    row = _rows(tmp_path / "b")["trickle0001"]
    assert (row["status"], row["transient"]) == ("too_slow", True) and "below the minimum 100" in row["message"]
    assert not [p for p in (tmp_path / "b").iterdir() if p.suffix == ".mp4"]


def test_http_errors_say_what_happened_and_retry_after_is_honoured(tmp_path: Path, server: LoopbackServer,
                                                                   small_video: bytes) -> None:
    """Defect 16 / issue 14.5: messages name the status, not "FileNotFoundError"; 429 and 503 wait
    for their Retry-After before the next try."""
    for v, status in (("limited0001", 429), ("unavail0001", 503)):
        server.files[f"/v/{v}.mp4"] = small_video
        server.behaviours[f"/v/{v}.mp4"] = Behaviour(fail_first=2, fail_status=status,
                                                     fail_headers={"Retry-After": "1"})
    clips = clip_table(tmp_path / "clips.parquet", [("limited0001", "youtube"), ("unavail0001", "youtube"),
                                                    ("notthere001", "youtube")])
    out = tmp_path / "out"
    opts = FetchOptions(source=server.url + "/v/{id}.mp4", out=out, backoff=0.01, max_backoff=0.02,
                        max_attempts=4, breaker_threshold=0, min_free_bytes=0, progress=False)
    summary = fetch(clips, opts)
    assert summary.counts == {"ok": 2, "not_found": 1}
    rows = _rows(out)
    msg = rows["notthere001"]["message"]
    assert "HTTP 404 Not Found" in msg and "notthere001.mp4" in msg and "FileNotFoundError" not in msg
    for v in ("limited0001", "unavail0001"):
        gets = [t for t, method, path, _via in server.log if path == f"/v/{v}.mp4" and method == "GET"]
        assert len(gets) == 3 and rows[v]["attempts"] == 3
        gaps = [b - a for a, b in zip(gets, gets[1:])]
        assert all(g >= 0.95 for g in gaps), gaps      # backoff alone would be 0.02 s
