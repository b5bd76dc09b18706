"""The ``avdata`` command: one subcommand per pipeline stage.

Exit codes: 0 all items done; 1 the run finished but some items were skipped or failed (each
reported on its own line); 2 bad usage; 3 could not run: a fatal error such as an output that cannot be
written or an input that cannot be read (one line on stderr, no traceback unless ``--debug``; an
unexpected exception is reported the same way, as an "internal error").
"""

from __future__ import annotations

import gc
import importlib
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


class LazyGroup(click.Group):
    """A group whose commands' modules are imported on first use (see ``avdata.cli.commands``)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        from avdata.cli.commands import COMMAND_MODULES

        return sorted(set(super().list_commands(ctx)) | set(COMMAND_MODULES))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        from avdata.cli.commands import COMMAND_MODULES

        if cmd_name not in self.commands and cmd_name in COMMAND_MODULES:
            importlib.import_module(COMMAND_MODULES[cmd_name])
        return super().get_command(ctx, cmd_name)

    def resolve_command(self, ctx: click.Context, args: list[str]) -> tuple:
        """An unknown command name is a usage error that suggests the closest command."""
        from avdata.cli.options import did_you_mean

        name = click.utils.make_str(args[0]) if args else ""
        if name and not name.startswith("-") and self.get_command(ctx, name) is None:
            known = [c for c in self.list_commands(ctx) if not c.startswith("_")]
            ctx.fail(f"No such command {name!r}{did_you_mean(name, known)}; commands: {', '.join(known)}.")
        return super().resolve_command(ctx, args)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="avdata")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """avdata: audio-visual datasets from raw videos and published segment lists."""
    ctx.obj = {"debug": debug}


def _register_commands() -> None:
    """Import every command's module now (for tools that walk ``cli.commands``)."""
    from avdata.cli.commands import COMMAND_MODULES

    for module in sorted(set(COMMAND_MODULES.values())):
        importlib.import_module(module)


def entry() -> None:
    """The ``avdata`` program (console script and ``python -m avdata``): ``main``, then an exit
    without the interpreter's last walk over every object. ``gc.freeze()`` spares those final
    collections (60 ms once pandas is loaded, as pyarrow loads it); what avdata writes is closed by
    then, and finalisers registered with ``atexit`` or ``weakref.finalize`` still run."""
    try:
        main()
    finally:
        gc.freeze()


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI; turn avdata errors into one clear line and exit code 3."""
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        # Outside standalone mode click *returns* the code of an Exit raised by a command.
        rc = cli.main(args=argv, prog_name="avdata", standalone_mode=False)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except click.exceptions.Abort as e:
        cause = e.__cause__ or e.__context__
        if isinstance(cause, EOFError) and not debug:     # click turns any EOFError into Abort
            click.echo(f"avdata: error: a file ended early (EOFError: {cause}); rerun with --debug to see "
                       "which", err=True)
            sys.exit(EXIT_FATAL)
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
    except OSError as e:
        if debug:
            raise
        where = f"{e.filename}: " if e.filename else ""
        click.echo(f"avdata: error: {where}{e.strerror or e}", err=True)
        sys.exit(EXIT_FATAL)
    except Exception as e:  # noqa: BLE001 - the last line of defence: one line, never a traceback
        if debug:
            raise
        click.echo(f"avdata: internal error: {type(e).__name__}: {e} (rerun with --debug for the traceback)",
                   err=True)
        sys.exit(EXIT_FATAL)
    sys.exit(rc if isinstance(rc, int) else EXIT_OK)
