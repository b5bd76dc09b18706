"""The whole click tree keeps one convention (issue 27): ``-o/--out`` on every command that writes
(old spellings parse but are hidden), a help text on every option, valid choices and the closest
one on a wrong value, "did you mean" for commands."""

from __future__ import annotations

import subprocess
import sys

import click
import pytest

from avdata.cli.main import _register_commands, cli
from avdata.cli.options import AliasOption, Choice

_register_commands()
COMMANDS = {n: c for n, c in sorted(cli.commands.items()) if not n.startswith("_")}
READS_ONLY = {"info", "embedders", "plugins", "diff"}


def _options(cmd: click.Command) -> list[click.Option]:
    return [p for p in cmd.params if isinstance(p, click.Option)]


@pytest.mark.parametrize("name", sorted(set(COMMANDS) - READS_ONLY))
def test_every_command_that_writes_spells_its_output_o_out(name: str) -> None:
    outs = [p for p in _options(COMMANDS[name]) if "--out" in p.opts]
    assert len(outs) == 1, name
    out = outs[0]
    assert out.opts[:2] == ["-o", "--out"] and isinstance(out, AliasOption) and "--output" in out.opts
    record = out.get_help_record(click.Context(COMMANDS[name]))
    assert record is not None and "--output" not in record[0] and record[0].startswith("-o, --out")


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_option_has_a_help_text_and_every_choice_suggests(name: str) -> None:
    for p in _options(COMMANDS[name]):
        if p.hidden:
            continue
        assert p.help and len(p.help) > 10, (name, p.opts)
        if isinstance(p.type, click.Choice):
            assert isinstance(p.type, Choice), (name, p.opts)
    for p in COMMANDS[name].params:
        if isinstance(p, click.Argument) and isinstance(p.type, click.Choice):
            assert isinstance(p.type, Choice), (name, p.name)


def _avdata(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "avdata", *args], capture_output=True, text=True, timeout=120)


def test_a_wrong_command_or_format_gets_did_you_mean(tmp_path) -> None:
    r = _avdata("ingset")
    assert r.returncode == 2 and "No such command 'ingset' (did you mean ingest?)" in r.stderr
    r = _avdata("ingest", "audiocap", "x.csv", "-o", str(tmp_path / "c.parquet"))
    from avdata.sources.registry import format_names

    known = " ".join(r.stderr.split())                     # click wraps long usage lines
    assert r.returncode == 2 and "(did you mean audiocaps?)" in r.stderr and ", ".join(format_names()) in known
    r = _avdata("embed", "x", "--media", ".", "-o", "y", "--embedder", "vipnt")
    assert r.returncode == 2 and "did you mean vipant?" in r.stderr


def test_the_old_spelling_still_parses(tmp_path) -> None:
    src = tmp_path / "eval_segments.csv"
    src.write_text("--4gqARaEJE, 0.000, 10.000, \"/m/068hy\"\n")
    for flag in ("-o", "--out", "--output"):
        out = tmp_path / f"c{flag.strip('-')}.parquet"
        r = _avdata("ingest", "audioset", str(src), flag, str(out))
        assert r.returncode == 0 and out.is_file(), r.stderr


def test_the_executor_help_names_every_executor() -> None:
    from avdata.executors import executor_names

    text = _avdata("extract", "--help").stdout
    assert all(name in text for name in executor_names())
