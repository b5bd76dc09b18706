"""``avdata embed`` and ``avdata embedders``: thin wrappers of avdata.embed."""

from __future__ import annotations

import click

from avdata.cli.executor_options import executor_options
from avdata.cli.main import PartialFailure, cli
from avdata.cli.options import Choice, embedder_params, out_option
from avdata.cli.paths import InputPath, check_paths
from avdata.embed import DEFAULT_EMBEDDER, embedder_names, embedder_status
from avdata.embed.run import DTYPES, EmbedOptions, run_embed
from avdata.pathcheck import DIR


@cli.command("embed")
@click.argument("index_file", type=InputPath(exists=True, dir_okay=False, readable=False))
@click.option("--media", required=True, type=InputPath(exists=True, file_okay=False),
              help="Media root the index lines' dir/aclip/frame paths are relative to.")
@click.option("--embedder", default=DEFAULT_EMBEDDER, show_default=True, type=Choice(embedder_names()),
              help="Embedder (see `avdata embedders` for what can run here).")
@click.option("--weights", multiple=True, type=click.Path(), help="Weights file(s) the embedder needs "
              "(vipant: CHECKPOINT then CLIP_FILE; torchscript: MODEL.pt). Repeat for several.")
@click.option("--param", "params", multiple=True, help="Embedder parameter KEY=VALUE (e.g. part=audio).")
@out_option("Folder for embeddings.npy, meta.json and embed_manifest.parquet.", required=True, type=click.Path())
@click.option("--dtype", type=Choice(DTYPES), default="float32", show_default=True,
              help="Type of embeddings.npy (float16 halves its size).")
@click.option("--workers", type=click.IntRange(1), default=None, help="Processes (default: all cores).")
@executor_options()
@click.option("--chunk-rows", type=click.IntRange(1), default=256, show_default=True,
              help="Rows per atomically written chunk (the most a kill loses).")
@click.option("--retry-failed", is_flag=True, help="Embed again the lines that failed before.")
@check_paths(outputs={"out": DIR}, needs=("index_file",), inputs=("media", "weights"))
def embed_command(index_file: str, media: str, embedder: str, weights: tuple[str, ...], params: tuple[str, ...],
                  out: str, dtype: str, workers: int | None, executor: str,
                  ray_address: str | None, chunk_rows: int,
                  retry_failed: bool) -> None:
    """Write one embedding row per line of INDEX_FILE (row i = line i)."""
    res = run_embed(EmbedOptions(index=index_file, media=media, out=out, embedder=embedder, weights=weights,
                                 params=embedder_params(params), dtype=dtype, executor=executor,
                                 ray_address=ray_address,
                                 workers=workers,
                                 chunk_rows=chunk_rows, retry_failed=retry_failed))
    for line, cid, code, message in res.failures:
        click.echo(f"avdata: {index_file}:{line + 1}: {cid or '-'}: {code}: {message} (zero row)", err=True)
    click.echo(res.summary_text())
    if res.failures:
        raise PartialFailure()


@cli.command("embedders")
@click.option("--weights", multiple=True, type=click.Path(), help="Check availability with these files.")
def embedders_command(weights: tuple[str, ...]) -> None:
    """List the embedders and whether each can run here (and why not)."""
    for name, status in embedder_status(weights=tuple(weights)).items():
        default = " (default)" if name == DEFAULT_EMBEDDER else ""
        click.echo(f"{name}{default}: {status}")
