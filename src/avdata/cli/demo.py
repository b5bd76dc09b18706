"""``avdata demo``: run the pipeline on the bundled example."""

from __future__ import annotations

import click

from avdata.cli.main import cli
from avdata.demo import run_demo


@cli.command("demo")
@click.option("--out", "out_dir", required=True, help="Folder for the demo's outputs.")
def demo_cmd(out_dir: str) -> None:
    """Ingest the bundled AudioSet/AudioCaps/AudioScope sample and summarize it."""
    summary = run_demo(out_dir)
    click.echo(summary.info)
    click.echo(f"wrote {summary.rows} clip(s) to {summary.clips} "
               f"({summary.problems.n_warnings} warning(s), {summary.problems.n_errors} error(s))")
