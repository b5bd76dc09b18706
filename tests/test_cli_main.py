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
