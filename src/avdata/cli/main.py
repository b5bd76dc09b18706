"""The ``avdata`` command: one subcommand per pipeline stage.

Exit codes: 0 all items done; 1 the run finished but some items were skipped or failed (each
reported on its own line); 2 bad usage; 3 a fatal error (one line on stderr, no traceback unless
``--debug``).
"""

from __future__ import annotations

import sys

import click

from avdata import __version__
from avdata.errors import AvdataError

EXIT_OK = 0
EXIT_SKIPPED = 1
EXIT_USAGE = 2
EXIT_FATAL = 3


class PartialFailure(click.exceptions.Exit):
    """Finish the command with exit code 1: the run completed but some items were skipped."""

    def __init__(self) -> None:
        super().__init__(EXIT_SKIPPED)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="avdata")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """avdata: audio-visual datasets from raw videos and published segment lists."""
    ctx.obj = {"debug": debug}


def _register_commands() -> None:
    """Each stage's CLI module adds its commands to ``cli``."""
    from avdata.cli import commands  # noqa: F401


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI; turn avdata errors into one clear line and exit code 3."""
    _register_commands()
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        # without standalone mode click *returns* the code of an Exit (e.g. PartialFailure)
        code = cli.main(args=argv, prog_name="avdata", standalone_mode=False)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except click.exceptions.Abort:
        click.echo("avdata: aborted", err=True)
        sys.exit(130)
    except click.ClickException as e:
        e.show()
        sys.exit(EXIT_USAGE)
    except AvdataError as e:
        if debug:
            raise
        click.echo(f"avdata: error: {e}", err=True)
        sys.exit(EXIT_FATAL)
    sys.exit(code if isinstance(code, int) and not isinstance(code, bool) else EXIT_OK)
