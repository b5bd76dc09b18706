"""``avdata browse``: a thin wrapper of avdata.browse."""

from __future__ import annotations

import click

from avdata.cli.main import cli
from avdata.cli.options import out_option
from avdata.cli.paths import InputPath, check_paths
from avdata.pathcheck import DIR


@cli.command("browse")
@click.argument("target", type=InputPath(exists=True))
@out_option("Folder for the site (index.html, pages/, thumbs/).", required=True, type=click.Path())
@click.option("--media", type=InputPath(exists=True, file_okay=False), default=None,
              help="Media root of an index file or of a balance output's index files.")
@click.option("--page-size", type=click.IntRange(1), default=48, show_default=True, help="Items per page.")
@click.option("--pages", type=click.IntRange(0), default=10, show_default=True,
              help="Pages written now (the rest on a rerun with more, or on demand with --serve).")
@click.option("--scores", type=InputPath(exists=True, dir_okay=False), default=None,
              help="Render output: a clip table written by `avdata score`, for each clip's score.")
@click.option("--ontology", default=None, help="ontology.json for label names (default: bundled).")
@click.option("--serve", is_flag=True, help="Serve the site on loopback; pages are written when asked for.")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True, help="Port for --serve.")
@check_paths(outputs={"out": DIR}, inputs=("target", "media", "scores", "ontology"))
def browse_command(target: str, out: str, media: str | None, page_size: int, pages: int, scores: str | None,
                   ontology: str | None, serve: bool, port: int) -> None:
    """Write pages to look at and listen to TARGET: an index file (with --media), a balance output
    folder (with --media) or a render output folder."""
    from avdata.browse.run import BrowseOptions, run_browse
    from avdata.browse.run import serve as serve_site

    opts = BrowseOptions(target=target, out=out, media=media, page_size=page_size, pages=pages, scores=scores,
                         ontology=ontology)
    if serve:
        click.echo(f"serving {out} on http://127.0.0.1:{port}/ (pages are written when asked for; Ctrl-C stops)")
        serve_site(opts, port)
        return
    for line in run_browse(opts).lines():
        click.echo(line)
