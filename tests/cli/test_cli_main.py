import subprocess
import sys

import click

from avdata.cli.main import PartialFailure, cli


@cli.command("_test-partial", hidden=True)
def _partial() -> None:
    raise PartialFailure()


def test_exit_codes_of_the_real_entry_point() -> None:
    ok = subprocess.run([sys.executable, "-m", "avdata", "--version"], capture_output=True, text=True)
    assert ok.returncode == 0 and "avdata" in ok.stdout
    bad = subprocess.run([sys.executable, "-m", "avdata", "no-such-command"], capture_output=True, text=True)
    assert bad.returncode == 2 and "no-such-command" in bad.stderr


def test_partial_failure_gives_exit_code_1(monkeypatch) -> None:
    from avdata.cli import main as main_mod

    try:
        main_mod.main(["_test-partial"])
    except SystemExit as e:
        assert e.code == 1
    else:  # pragma: no cover
        raise AssertionError("main() must exit")


def test_every_command_is_listed_and_loads_lazily() -> None:
    from avdata.cli.commands import COMMAND_MODULES

    code = ("import sys; from avdata.cli.main import main\n"
            "try:\n    main(['ingest', '--help'])\nexcept SystemExit as e:\n    assert e.code == 0\n"
            "print('av' in sys.modules, 'yt_dlp' in sys.modules)")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.stdout.strip().splitlines()[-1] == "False False", run.stdout + run.stderr
    listed = subprocess.run([sys.executable, "-m", "avdata", "--help"], capture_output=True, text=True).stdout
    for name in COMMAND_MODULES:
        assert f"  {name} " in listed
