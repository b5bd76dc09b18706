"""Extension points (issue 29): one registry mechanism, and a format and a fetch backend added from a
separate package through entry points, visible in ``--help`` and ``avdata plugins`` and working end to
end. The package is a folder on PYTHONPATH with a ``.dist-info`` (what ``pip install`` leaves), so the
entry points are found by ``importlib.metadata`` as for any installed package."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from avdata.registry import Registry, UnknownNameError

FORMAT = '''
"""tinylist: 'YTID START END' per line, space-separated."""
from avdata.sources.registry import register_reader, register_writer
from avdata.sources.sniff import register_sniffer
from avdata.table import clips_from_records


@register_sniffer("tinylist", "a tinylist file (YTID START END)")
def looks_like(row):
    parts = row[0].split() if len(row) == 1 else []
    return len(parts) == 3 and len(parts[0]) == 11


@register_reader("tinylist")
def read(paths, options, problems):
    recs = []
    for path in paths:
        for n, line in enumerate(open(path, encoding="utf-8"), 1):
            ytid, start, end = line.split()
            recs.append(dict(clip_id=f"{ytid}_{start}", source=ytid, source_kind="youtube", start=float(start),
                             end=float(end), dataset="tinylist", split="train", labels=[], captions=[],
                             origin_file=path, origin_line=n))
    return clips_from_records(recs)


@register_writer("tinylist")
def write(table, path):
    rows = table.select(["source", "start", "end"]).to_pylist()
    with open(path, "w", encoding="utf-8") as fh:
        fh.writelines(f"{r['source']} {r['start']:g} {r['end']:g}\\n" for r in rows)
    return len(rows)
'''

BACKEND = '''
"""mirror:ROOT -- the videos of a local mirror (the dir: backend under another name)."""
from avdata.fetch.local import LocalTreeBackend
from pathlib import Path


def make_mirror(uri, options):
    return LocalTreeBackend(root=Path(uri.partition(":")[2]).resolve(), link=options.link)
'''


@pytest.fixture(scope="module")
def plugin_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    site = tmp_path_factory.mktemp("site")
    pkg = site / "tinyplugin"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "formats.py").write_text(textwrap.dedent(FORMAT))
    (pkg / "backends.py").write_text(textwrap.dedent(BACKEND))
    info = site / "tinyplugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: tinyplugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[avdata.formats]\ntinylist = tinyplugin.formats\n\n"
                                            "[avdata.backends]\nmirror = tinyplugin.backends:make_mirror\n")
    return site


def _avdata(site: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-m", "avdata", *args], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=300)


def test_a_plugin_format_and_backend_work_end_to_end(plugin_path: Path, tmp_path: Path) -> None:
    listing = _avdata(plugin_path, "plugins").stdout
    from avdata.sources.registry import READERS

    names = sorted([*READERS.names(), "tinylist (tinyplugin)"])
    assert f"input format [avdata.formats]: {', '.join(names)}" in listing
    assert "mirror (tinyplugin)" in listing
    assert "tinylist" in _avdata(plugin_path, "ingest", "--help").stdout
    src = tmp_path / "clips.tiny"
    src.write_text("--4gqARaEJE 0 10\n--BfvyPmVMo 20 30\n")
    r = _avdata(plugin_path, "ingest", "tinylist", str(src), "-o", str(tmp_path / "c.parquet"))
    assert r.returncode == 0 and "wrote 2 clip(s)" in r.stdout, r.stderr
    r = _avdata(plugin_path, "export", "tinylist", str(tmp_path / "c.parquet"), "-o", str(tmp_path / "back.tiny"))
    assert r.returncode == 0 and (tmp_path / "back.tiny").read_text() == src.read_text(), r.stderr
    # the backend: fetch from a local mirror holding one of the two videos
    from avdata.media.synth import SynthSpec, make_video

    mirror = tmp_path / "mirror"
    make_video(mirror / "--4gqARaEJE.mp4", SynthSpec(width=64, height=36, fps=5, duration=12.0))
    r = _avdata(plugin_path, "fetch", str(tmp_path / "c.parquet"), "--source", f"mirror:{mirror}", "-o",
                str(tmp_path / "videos"))
    assert r.returncode == 1, r.stdout + r.stderr                # one video is not in the mirror
    from avdata.manifest import read_manifest

    rows = {x["source"]: x for x in read_manifest(tmp_path / "videos" / "fetch_manifest.parquet").to_pylist()}
    assert rows["--4gqARaEJE"]["status"] == "ok" and rows["--BfvyPmVMo"]["status"] == "missing", rows
    # and without the plugin, the names are unknown, with the known ones listed
    r = _avdata(tmp_path, "ingest", "tinylist", str(src), "-o", str(tmp_path / "d.parquet"))
    assert r.returncode == 2 and "'tinylist' is not one of audiocaps" in r.stderr


def test_one_error_text_for_every_unknown_name() -> None:
    reg: Registry[int] = Registry("test thing", "avdata.tests_only")
    reg.add("ytdlp", 1)
    reg.add("youtube", 2)
    with pytest.raises(UnknownNameError) as e:
        reg.get("ytdl")
    assert str(e.value) == "unknown test thing 'ytdl'; known: youtube, ytdlp (did you mean ytdlp?)"


@pytest.mark.slow
def test_every_package_imports_alone_without_a_cycle() -> None:
    """Each module imported first, in a fresh interpreter (an import cycle fails one of them)."""
    src = Path(__file__).resolve().parents[2] / "src" / "avdata"
    modules = sorted("avdata." + ".".join(p.relative_to(src).with_suffix("").parts).removesuffix(".__init__")
                     for p in src.rglob("*.py") if p.name != "__main__.py")
    modules = [m.removesuffix(".__init__") for m in modules]
    script = ("import importlib, subprocess, sys\nbad = []\nfor m in sys.argv[1:]:\n"
              "    r = subprocess.run([sys.executable, '-c', f'import {m}'], capture_output=True, text=True)\n"
              "    bad += [(m, r.stderr.strip().splitlines()[-1])] if r.returncode else []\nprint(bad)\n")
    r = subprocess.run([sys.executable, "-c", script, *modules], capture_output=True, text=True, timeout=900)
    assert r.stdout.strip() == "[]", r.stdout[-3000:]
