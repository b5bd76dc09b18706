"""Issue 8, defects 1-3 and the CLI parts of 16: hostile paths given to every command.

Each case runs the real command and asserts its exit code and its one line of output (never a
traceback), and that nothing was written or destroyed. Permission cases run the command as user
65534 (``setpriv``): the tests themselves run as root, for whom permission bits do not apply.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from avdata.cli.main import main
from avdata.sources.build import build_clips
from avdata.table import read_clips, write_clips

EXAMPLE = Path(__file__).resolve().parents[2] / "src" / "avdata" / "data" / "example"
SETPRIV = shutil.which("setpriv")
NOBODY = ["--reuid=65534", "--regid=65534", "--clear-groups"]


def run(argv: list[str], cwd: Path, capsys: pytest.CaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> tuple[int, str, str]:
    """Run ``avdata ARGV`` in this process (an escaping exception fails the test): exit code, out, err."""
    monkeypatch.chdir(cwd)
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err and "internal error" not in err
    return int(exit_info.value.code or 0), out, err


def run_as_nobody(argv: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """Run ``avdata ARGV`` as user 65534 in a subprocess."""
    if SETPRIV is None or os.geteuid() != 0:
        pytest.skip("needs root and setpriv to run a command as another user")
    env = {**os.environ, "MPLCONFIGDIR": str(_nobody_home())}
    r = subprocess.run([SETPRIV, *NOBODY, sys.executable, "-m", "avdata", *argv], cwd=cwd, capture_output=True,
                       text=True, timeout=120, env=env)
    assert "Traceback" not in r.stdout + r.stderr
    return r


def _nobody_home() -> Path:
    """A folder of user 65534's own for matplotlib's cache (root's home is not theirs)."""
    home = Path(tempfile.gettempdir()) / "avdata-test-nobody"
    home.mkdir(exist_ok=True)
    os.chown(home, 65534, 65534)
    return home


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A folder user 65534 may enter and write (pytest's own tmp folders are root-only, and pytest
    makes them so again whenever another session starts)."""
    base = Path(tempfile.mkdtemp(prefix="avdata-shared-"))
    base.chmod(0o777)
    yield base
    shutil.rmtree(base, ignore_errors=True)


def _clip_table(path: Path, kind: str = "youtube", end: float = 10.0) -> Path:
    source = "--PJHxphWEs" if kind == "youtube" else "data/videos/mp4/827/f6b/827f6b53467db2.mp4"
    write_clips(build_clips(1, {"clip_id": ["c0"], "source": [source], "source_kind": kind, "start": [0.0],
                                "end": [end], "dataset": "audioset", "split": "eval", "origin_file": "x",
                                "origin_line": [1]}), path)
    return path


def _listing(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


# -- defect 1: an output that cannot be written ---------------------------------------------------

def _commands(d: Path) -> dict[str, list[str]]:
    """Every command, its output pointed into ``d/locked`` (a folder user 65534 cannot write)."""
    lk = "locked"
    return {
        "ingest": ["ingest", "audioset", "eval_segments.csv", "-o", f"{lk}/c.parquet"],
        "export": ["export", "audioset", "clips.parquet", "-o", f"{lk}/e.csv"],
        "extract": ["extract", "clips.parquet", "--videos", ".", "--out", f"{lk}/x"],
        "extract-manifest": ["extract", "clips.parquet", "--videos", ".", "--out", "x",
                             "--manifest", f"{lk}/m.parquet"],
        "fetch": ["fetch", "clips.parquet", "--source", "dir:.", "--out", f"{lk}/v"],
        "fetch-manifest": ["fetch", "clips.parquet", "--source", "dir:.", "--out", "v",
                           "--manifest", f"{lk}/m.parquet"],
        "index": ["index", "clips.parquet", "--manifest", "mdir", "--media", ".", "--out", f"{lk}/i"],
        "weights": ["weights", "index.jsonl", "--out", f"{lk}/w.csv"],
        "report": ["report", "index.jsonl", "--out", f"{lk}/r"],
        "demo": ["demo", "--out", f"{lk}/demo"],
        "render": ["render", "clips.parquet", "--videos", ".", "--out", f"{lk}/r"],
        "render-manifest": ["render", "clips.parquet", "--videos", ".", "--out", "r", "--manifest", f"{lk}/m"],
        "windows": ["windows", "mdir", "-o", f"{lk}/w.parquet"],
        "windows-manifest": ["windows", "mdir", "-o", "w.parquet", "--manifest", f"{lk}/m"],
        "ratings": ["ratings", "eval_segments.csv", "--clips", "clips.parquet", "-o", f"{lk}/r.parquet"],
        "score": ["score", "clips.parquet", "--media", "mdir", "--embedder", "signal", "-o", f"{lk}/s.parquet"],
        "score-manifest": ["score", "clips.parquet", "--media", "mdir", "--embedder", "signal", "-o", "s.parquet",
                           "--manifest", f"{lk}/m"],
        "mom": ["mom", "clips.parquet", "-o", f"{lk}/mom"],
        "shards": ["shards", "index.jsonl", "--media", ".", "--out", f"{lk}/s"],
        "embed": ["embed", "index.jsonl", "--media", ".", "-o", f"{lk}/e"],
        "export-lhotse": ["export", "lhotse", "index.jsonl", "--media", ".", "-o", f"{lk}/l"],
    }


@pytest.fixture
def locked(shared_dir: Path) -> Path:
    shutil.copy(EXAMPLE / "eval_segments.csv", shared_dir)
    _clip_table(shared_dir / "clips.parquet")
    (shared_dir / "mdir").mkdir()
    (shared_dir / "index.jsonl").write_text('{"id": "c0", "labels": ["/m/09x0r"]}\n')
    (shared_dir / "locked").mkdir(mode=0o555)
    (shared_dir / "locked").chmod(0o555)
    return shared_dir


@pytest.mark.slow
@pytest.mark.parametrize("name", list(_commands(Path("."))))
def test_unwritable_output_is_one_line_exit_3_and_nothing_written(locked: Path, name: str) -> None:
    before = _listing(locked)
    r = run_as_nobody(_commands(locked)[name], locked)
    line = _one_line(r.stderr)
    assert r.returncode == 3, r.stderr
    assert line.startswith("avdata: error: cannot write --") and "locked/" in line
    assert line.endswith("permission denied")
    assert _listing(locked) == before


def test_read_only_file_system_is_refused(tmp_path: Path, capsys, monkeypatch) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro", "tmpfs", str(ro)], capture_output=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a read-only tmpfs here: {r.stderr.decode().strip()}")
    try:
        shutil.copy(EXAMPLE / "eval_segments.csv", tmp_path)
        rc, out, err = run(["ingest", "audioset", "eval_segments.csv", "-o", "ro/x.parquet"], tmp_path, capsys,
                           monkeypatch)
        assert rc == 3
        assert _one_line(err) == "avdata: error: cannot write --out ro/x.parquet: read-only file system"
        assert out == ""
    finally:
        subprocess.run(["umount", str(ro)], check=False)


def test_immutable_folder_is_refused(tmp_path: Path, capsys, monkeypatch) -> None:
    frozen = tmp_path / "frozen"
    frozen.mkdir()
    r = subprocess.run(["chattr", "+i", str(frozen)], capture_output=True)
    if r.returncode != 0:
        pytest.skip(f"chattr +i is not supported here: {r.stderr.decode().strip()}")
    try:
        _clip_table(tmp_path / "clips.parquet")
        rc, _, err = run(["export", "audioset", "clips.parquet", "-o", "frozen/e.csv"], tmp_path, capsys, monkeypatch)
        assert rc == 3
        assert _one_line(err) == "avdata: error: cannot write --out frozen/e.csv: operation not permitted"
        rc, _, err = run(["extract", "clips.parquet", "--videos", ".", "--out", "frozen/x"], tmp_path, capsys,
                         monkeypatch)
        assert rc == 3 and "cannot write --out frozen/x" in _one_line(err)
    finally:
        subprocess.run(["chattr", "-i", str(frozen)], check=False)
    assert list(frozen.iterdir()) == []


@pytest.mark.parametrize("output, reason", [
    ("folder", "is a directory, not a regular file"),
    ("eval_segments.csv.bak/x.parquet", "not a directory"),
    # never a real device such as /dev/null: were the check to fail, the device would be replaced
    ("pipe", "is a named pipe (FIFO), not a regular file"),
])
def test_output_that_is_not_a_file_path_is_refused(tmp_path: Path, capsys, monkeypatch, output: str,
                                                   reason: str) -> None:
    shutil.copy(EXAMPLE / "eval_segments.csv", tmp_path)
    shutil.copy(EXAMPLE / "eval_segments.csv", tmp_path / "eval_segments.csv.bak")
    (tmp_path / "folder").mkdir()
    os.mkfifo(tmp_path / "pipe")
    before = _listing(tmp_path)
    rc, out, err = run(["ingest", "audioset", "eval_segments.csv", "-o", output], tmp_path, capsys, monkeypatch)
    line = _one_line(err)
    assert rc == 3 and line.startswith(f"avdata: error: cannot write --out {output}: ") and line.endswith(reason)
    assert out == "" and _listing(tmp_path) == before


def test_folder_output_that_is_a_file_is_refused(tmp_path: Path, capsys, monkeypatch) -> None:
    _clip_table(tmp_path / "clips.parquet")
    (tmp_path / "afile").write_text("mine")
    rc, _, err = run(["extract", "clips.parquet", "--videos", ".", "--out", "afile"], tmp_path, capsys, monkeypatch)
    assert rc == 3 and _one_line(err) == "avdata: error: cannot write --out afile: is a file, not a directory"
    assert (tmp_path / "afile").read_text() == "mine"


# -- defect 2: inputs that cannot be read, among good ones ----------------------------------------

GOOD = {
    "audioset": ("eval_segments.csv", (EXAMPLE / "eval_segments.csv").read_bytes()),
    "audiocaps": ("val.csv", (EXAMPLE / "val.csv").read_bytes()),
    "audioscope": ("unfiltered_validate_clips.csv", (EXAMPLE / "unfiltered_validate_clips.csv").read_bytes()),
    "mixit": ("train_clips.csv", b"data/videos/mp4/827/f6b/827f6b53.mp4,0.0,10.0,0.0\n"),
}


@pytest.mark.slow
@pytest.mark.parametrize("fmt", list(GOOD))
def test_unreadable_input_is_reported_and_the_others_are_read(shared_dir: Path, fmt: str) -> None:
    name, data = GOOD[fmt]
    (shared_dir / name).write_bytes(data)
    (shared_dir / f"locked_{name}").write_bytes(data)
    (shared_dir / f"locked_{name}").chmod(0)
    r = run_as_nobody(["ingest", fmt, f"locked_{name}", name, "-o", "c.parquet"], shared_dir)
    assert r.returncode == 1, r.stderr
    assert f"error: locked_{name}: cannot be read: permission denied" in r.stderr.splitlines()
    assert read_clips(shared_dir / "c.parquet").num_rows > 0


def test_fifo_folder_and_device_inputs_say_what_they_are(tmp_path: Path, capsys, monkeypatch) -> None:
    shutil.copy(EXAMPLE / "eval_segments.csv", tmp_path)
    os.mkfifo(tmp_path / "pipe.csv")
    (tmp_path / "folder.csv").mkdir()
    os.symlink("gone.csv", tmp_path / "dangling.csv")
    rc, out, err = run(["ingest", "audioset", "pipe.csv", "folder.csv", "/dev/null", "dangling.csv", "nothere.csv",
                        "eval_segments.csv", "-o", "c.parquet"], tmp_path, capsys, monkeypatch)
    lines = err.splitlines()
    assert rc == 1
    assert "error: pipe.csv: is a named pipe (FIFO), not a regular file" in lines
    assert "error: folder.csv: is a directory, not a regular file" in lines
    assert "error: /dev/null: is a character device, not a regular file" in lines
    assert "error: dangling.csv: broken symbolic link" in lines
    assert "error: nothere.csv: no such file" in lines
    assert read_clips(tmp_path / "c.parquet").num_rows == 6 and "wrote 6 clip(s)" in out


def test_a_fifo_as_the_table_of_a_command_stops_it_in_one_line(tmp_path: Path, capsys, monkeypatch) -> None:
    os.mkfifo(tmp_path / "t.parquet")
    rc, _, err = run(["info", "t.parquet"], tmp_path, capsys, monkeypatch)
    assert rc == 3
    assert _one_line(err) == "avdata: error: cannot read TABLE t.parquet: is a named pipe (FIFO), not a regular file"


# -- defect 3: an output that is one of the inputs ------------------------------------------------

@pytest.mark.parametrize("spelling", ["same.csv", "./same.csv", "link.csv", "sub/../same.csv", "hard.csv"])
@pytest.mark.parametrize("fmt", ["audioset", "audiocaps"])
def test_output_equal_to_an_input_is_refused(tmp_path: Path, capsys, monkeypatch, spelling: str, fmt: str) -> None:
    src = EXAMPLE / ("eval_segments.csv" if fmt == "audioset" else "val.csv")
    shutil.copy(src, tmp_path / "same.csv")
    (tmp_path / "sub").mkdir()
    os.symlink("same.csv", tmp_path / "link.csv")
    os.link(tmp_path / "same.csv", tmp_path / "hard.csv")
    rc, out, err = run(["ingest", fmt, "same.csv", "-o", spelling], tmp_path, capsys, monkeypatch)
    assert rc == 3 and out == ""
    assert _one_line(err) == (f"avdata: error: cannot write --out {spelling}: is also an input (same.csv); "
                              "choose another output")
    assert (tmp_path / "same.csv").read_bytes() == src.read_bytes()


@pytest.mark.parametrize("argv, flag", [
    (["export", "audioset", "clips.parquet", "-o", "./clips.parquet"], "--out ./clips.parquet"),
    (["extract", "clips.parquet", "--videos", ".", "--out", "x", "--manifest", "clips.parquet"],
     "--manifest clips.parquet"),
    (["fetch", "clips.parquet", "--source", "dir:.", "--out", "v", "--archive", "clips.parquet"],
     "--archive clips.parquet"),
    (["index", "clips.parquet", "--manifest", "m", "--media", ".", "--out", "m"], "--out m"),
    (["weights", "clips.parquet", "--out", "clips.parquet"], "--out clips.parquet"),
    (["ingest", "audiocaps", "val.csv", "--segments", "clips.parquet", "-o", "clips.parquet"],
     "--out clips.parquet"),
    (["render", "clips.parquet", "--videos", ".", "--out", "r", "--manifest", "./clips.parquet"],
     "--manifest ./clips.parquet"),
    (["windows", "m", "-o", "val.csv", "--splits", "val.csv"], "--out val.csv"),
    (["ratings", "val.csv", "--clips", "clips.parquet", "-o", "./val.csv"], "--out ./val.csv"),
    (["ratings", "val.csv", "--clips", "clips.parquet", "-o", "clips.parquet"], "--out clips.parquet"),
    (["score", "clips.parquet", "--media", "m", "--embedder", "signal", "-o", "clips.parquet"],
     "--out clips.parquet"),
    (["score", "clips.parquet", "--media", "m", "--embedder", "signal", "--manifest", "clips.parquet"],
     "--manifest clips.parquet"),
    (["shards", "index.jsonl", "--media", "m", "--out", "m"], "--out m"),
    (["embed", "index.jsonl", "--media", "m", "-o", "m"], "--out m"),
    (["export", "lhotse", "index.jsonl", "--media", "m", "-o", "m"], "--out m"),
    (["balance", "--seeds", "index.jsonl", "--seed-emb", "m", "--pool", "index.jsonl", "--pool-emb", "m",
      "-o", "./index.jsonl"], "--out ./index.jsonl"),
])
def test_every_command_refuses_to_overwrite_an_input(tmp_path: Path, capsys, monkeypatch, argv: list[str],
                                                     flag: str) -> None:
    table = _clip_table(tmp_path / "clips.parquet")
    (tmp_path / "m").mkdir()
    shutil.copy(EXAMPLE / "val.csv", tmp_path)
    (tmp_path / "index.jsonl").write_text('{"dir": "d", "id": "c0", "labels": ["/m/09x0r"]}\n')
    data = table.read_bytes()
    before = _listing(tmp_path)
    rc, _, err = run(argv, tmp_path, capsys, monkeypatch)
    line = _one_line(err)
    assert rc == 3 and line.startswith(f"avdata: error: cannot write {flag}: is also an input")
    assert table.read_bytes() == data and _listing(tmp_path) == before


# -- the calls of the before-stop hook, and the CLI parts of 16 -------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("argv, code, line", [
    (["ingest", "audioset", "missing.csv", "-o", "x.parquet"], 3, "error: missing.csv: no such file"),
    (["info", "t.txt"], 3, "avdata: error: t.txt: not a readable Parquet clip table"),
    (["extract", "t.txt", "--videos", "none", "--out", "o"], 3,
     "avdata: error: cannot read --videos none: directory 'none' does not exist"),
    (["extract", "t.txt", "--videos", ".", "--out", "o"], 3, "avdata: error: t.txt: not a readable Parquet"),
    (["index", "t.txt", "--manifest", "t.txt", "--media", ".", "--out", "i"], 3,
     "avdata: error: t.txt: not a readable Parquet clip table"),
])
def test_hostile_calls_of_the_before_stop_hook(tmp_path: Path, argv: list[str], code: int, line: str) -> None:
    (tmp_path / "t.txt").write_text("not,a,parquet\n")
    r = subprocess.run([sys.executable, "-m", "avdata", *argv], cwd=tmp_path, capture_output=True, text=True,
                       timeout=120)
    assert "Traceback" not in r.stdout + r.stderr
    assert r.returncode == code
    assert any(x.startswith(line) for x in r.stderr.splitlines()), r.stderr
    if code != 1:
        assert sorted(p.name for p in tmp_path.iterdir()) == ["t.txt"]      # nothing written


def test_info_of_a_huge_end_time_prints_short_bin_edges(tmp_path: Path, capsys, monkeypatch) -> None:
    write_clips(build_clips(2, {"clip_id": ["a", "b"], "source": ["--PJHxphWEs"] * 2, "source_kind": "youtube",
                                "start": [0.0, 0.0], "end": [10.0, 1e308], "dataset": "audioset",
                                "split": "eval", "origin_file": "x", "origin_line": [1, 2]}),
                tmp_path / "c.parquet")
    rc, out, _ = run(["info", "c.parquet"], tmp_path, capsys, monkeypatch)
    hist = out.split("clip durations:\n")[1].splitlines()
    assert rc == 0 and len(hist) == 10
    assert max(len(x) for x in hist) < 100 and hist[-1].startswith("  [  9e+307,   1e+308) s          1")


@pytest.mark.parametrize("fmt, kind, what", [("mixit", "youtube", "video paths"),
                                             ("audioscope", "youtube", "video paths"),
                                             ("audioset", "path", "YouTube ids"),
                                             ("audiocaps", "path", "YouTube ids")])
def test_export_refuses_sources_of_the_wrong_kind(tmp_path: Path, capsys, monkeypatch, fmt: str, kind: str,
                                                  what: str) -> None:
    _clip_table(tmp_path / "c.parquet", kind)
    rc, _, err = run(["export", fmt, "c.parquet", "-o", "out.csv"], tmp_path, capsys, monkeypatch)
    assert rc == 3
    assert _one_line(err).startswith(f"avdata: error: cannot write a {fmt} list: it needs {what}, but 1 of 1 row(s)")
    assert not (tmp_path / "out.csv").exists()


@pytest.mark.slow
def test_fetch_report_alone_reads_a_folder_it_cannot_write(locked: Path) -> None:
    """``fetch --report`` without a source only reads: a read-only OUT is fine."""
    r = run_as_nobody(["fetch", "--report", "--out", "locked"], locked)
    assert r.returncode == 0, r.stderr
    assert "cannot write" not in r.stderr


# -- the commands added beside the path check: render, windows, ratings, score, mom, shards, embed,
#    export lhotse (their outputs and output == input are in the tables above) ------------------

def _new_command_inputs(d: Path) -> None:
    _clip_table(d / "clips.parquet")
    shutil.copy(EXAMPLE / "eval_segments.csv", d)
    (d / "index.jsonl").write_text('{"dir": "d", "id": "c0", "labels": ["/m/09x0r"]}\n')
    (d / "m").mkdir()


@pytest.mark.parametrize("argv, what", [
    (["render", "pipe", "--videos", ".", "--out", "o"], "LIST_OR_CLIPS pipe"),
    (["windows", "m", "-o", "o.parquet", "--splits", "pipe"], "--splits pipe"),
    (["ratings", "pipe", "--clips", "clips.parquet", "-o", "o.parquet"], "RATINGS pipe"),
    (["ratings", "eval_segments.csv", "--clips", "pipe", "-o", "o.parquet"], "--clips pipe"),
    (["score", "pipe", "--media", "m", "--embedder", "signal", "-o", "o.parquet"], "CLIPS pipe"),
    (["mom", "pipe", "-o", "o"], "CLIPS pipe"),
    (["shards", "pipe", "--media", ".", "--out", "o"], "INDEX_FILE pipe"),
    (["shards", "index.jsonl", "--media", ".", "--out", "o", "--weights", "pipe"], "--weights pipe"),
    (["embed", "pipe", "--media", ".", "-o", "o"], "INDEX_FILE pipe"),
    (["export", "lhotse", "pipe", "--media", ".", "-o", "o"], "TABLE pipe"),
    (["balance", "--seeds", "pipe", "--seed-emb", ".", "--pool", "index.jsonl", "--pool-emb", ".", "-o", "o"],
     "--seeds pipe"),
])
def test_a_fifo_as_an_input_of_a_new_command_stops_it_in_one_line(tmp_path: Path, capsys, monkeypatch,
                                                                   argv: list[str], what: str) -> None:
    """Never a hang reading a named pipe, never a traceback: exit 3, one line, nothing written."""
    _new_command_inputs(tmp_path)
    os.mkfifo(tmp_path / "pipe")
    before = _listing(tmp_path)
    rc, out, err = run(argv, tmp_path, capsys, monkeypatch)
    assert rc == 3 and out == ""
    assert _one_line(err) == f"avdata: error: cannot read {what}: is a named pipe (FIFO), not a regular file"
    assert _listing(tmp_path) == before


@pytest.mark.slow
@pytest.mark.parametrize("argv, what", [
    (["embed", "locked.jsonl", "--media", ".", "-o", "o"], "INDEX_FILE locked.jsonl"),
    (["shards", "locked.jsonl", "--media", ".", "--out", "o"], "INDEX_FILE locked.jsonl"),
    (["ratings", "locked.jsonl", "--clips", "clips.parquet", "-o", "o.parquet"], "RATINGS locked.jsonl"),
])
def test_an_unreadable_input_of_a_new_command_is_one_line_exit_3(shared_dir: Path, argv: list[str],
                                                                  what: str) -> None:
    _new_command_inputs(shared_dir)
    (shared_dir / "locked.jsonl").write_text('{"dir": "d", "id": "c0", "labels": ["/m/09x0r"]}\n')
    (shared_dir / "locked.jsonl").chmod(0)
    before = _listing(shared_dir)
    r = run_as_nobody(argv, shared_dir)
    assert r.returncode == 3, r.stderr
    assert _one_line(r.stderr) == f"avdata: error: cannot read {what}: cannot be read: permission denied"
    assert _listing(shared_dir) == before


def test_embed_reports_bad_index_lines_and_keeps_row_i_for_line_i(tmp_path: Path, capsys, monkeypatch) -> None:
    """A non-UTF-8 line and a non-JSON line are ``FILE:LINE`` zero rows; the rest are read; a line
    separator inside a JSON string (U+2028) does not split a line (rows match ``LazyIndex``)."""
    import numpy as np

    from avdata.loaders.lazy_index import LazyIndex

    (tmp_path / "media").mkdir()
    bad = b'{"dir": "d", "id": "b", "captions": ["\xff"]}'
    (tmp_path / "idx.jsonl").write_bytes(
        '{"dir": "d", "id": "a", "aclip": ["p0.mp3"], "captions": ["x\u2028y"]}\n'.encode() + bad + b"\n"
        + b"not json\r\n" + b'{"dir": "d", "id": "c", "aclip": ["p0.mp3"]}')
    rc, out, err = run(["embed", "idx.jsonl", "--media", "media", "-o", "e", "--executor", "inline"], tmp_path,
                       capsys, monkeypatch)
    lines = err.splitlines()
    assert rc == 1
    column = bad.index(b"\xff") + 1
    assert f"avdata: idx.jsonl:2: -: bad_line: line is not valid UTF-8 (byte 0xff at column {column}) (zero row)" \
        in lines
    assert any(x.startswith("avdata: idx.jsonl:3: -: bad_line: not a JSON line (") for x in lines), err
    assert [x.split(":")[2] for x in lines] == ["1", "2", "3", "4"]      # a and c: their audio is missing
    emb = np.load(tmp_path / "e" / "embeddings.npy")
    assert emb.shape[0] == len(LazyIndex(tmp_path / "idx.jsonl")) == 4 and not emb.any()
    assert "embed: 4 rows" in out


def test_score_reads_example_lines_past_a_non_utf8_one(tmp_path: Path) -> None:
    from avdata.audioscope.score import read_examples
    from avdata.sources.problems import Problems

    (tmp_path / "examples.jsonl").write_bytes(b'{"id": "a", "audio": "a.wav"}\n{"id": "\xff"}\n'
                                              b'{"id": "c", "audio": "c.wav"}\n')
    problems = Problems()
    media = read_examples(str(tmp_path), None, problems)
    assert sorted(media) == ["a", "c"] and media["c"].audio == str(tmp_path / "c.wav")
    assert [str(e) for e in problems.errors] == [
        f"{tmp_path / 'examples.jsonl'}:2: not an example line: line is not valid UTF-8 (byte 0xff at column 9)"]


@pytest.mark.parametrize("argv, line", [
    (["shards", "index.jsonl", "--media", ".", "--out", "o", "--weights", "w.csv"],
     "avdata: error: w.csv:2: not a float: '\\\\xff'"),
    (["render", "clips.parquet", "--videos", ".", "--out", "o", "--fetch-manifest", "garbage.txt"],
     "avdata: error: garbage.txt: not a readable manifest ("),
    (["windows", "m", "-o", "o.parquet", "--manifest", "bad"],
     "avdata: error: bad/part-0.parquet: not a readable manifest (Parquet magic bytes not found"),
    (["embed", "index.jsonl", "--media", ".", "-o", "o", "--weights", "garbage.txt"],
     "avdata: error: garbage.txt: not a signal statistics file (UnicodeDecodeError: "),
    (["embed", "index.jsonl", "--media", ".", "-o", "o", "--param", "nope=1"],
     "avdata: error: embedder 'signal': got an unexpected keyword argument 'nope'"),
    (["score", "clips.parquet", "--media", "m", "--embedder", "signal", "--param", "nope=1"],
     "avdata: error: embedder 'signal': got an unexpected keyword argument 'nope'"),
])
def test_bad_side_inputs_of_new_commands_stop_them_before_anything_is_written(
        tmp_path: Path, capsys, monkeypatch, argv: list[str], line: str) -> None:
    _new_command_inputs(tmp_path)
    (tmp_path / "w.csv").write_bytes(b"1.0\n\xff\n")
    (tmp_path / "garbage.txt").write_bytes(b"not,a,parquet\n\xff\x00")
    (tmp_path / "bad").mkdir()
    shutil.copy(tmp_path / "garbage.txt", tmp_path / "bad" / "part-0.parquet")
    before = _listing(tmp_path)
    rc, _, err = run(argv, tmp_path, capsys, monkeypatch)
    assert rc == 3 and _one_line(err).startswith(line), err
    assert _listing(tmp_path) == before


def test_embed_into_a_folder_with_a_broken_meta_json_is_refused(tmp_path: Path, capsys, monkeypatch) -> None:
    _new_command_inputs(tmp_path)
    (tmp_path / "o").mkdir()
    (tmp_path / "o" / "meta.json").write_bytes(b"\xff not json")
    rc, _, err = run(["embed", "index.jsonl", "--media", ".", "-o", "o"], tmp_path, capsys, monkeypatch)
    assert rc == 3
    assert _one_line(err).startswith("avdata: error: o/meta.json: not an avdata embed meta.json (")
    assert (tmp_path / "o" / "meta.json").read_bytes() == b"\xff not json"
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["meta.json"]
