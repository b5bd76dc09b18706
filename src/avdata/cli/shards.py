"""``avdata shards``: an index file and its media as WebDataset tar shards (avdata.loaders.shards)."""

from __future__ import annotations

import math

import click

from avdata.cli.executor_options import executor_options
from avdata.cli.main import PartialFailure, cli
from avdata.cli.options import out_option
from avdata.cli.paths import InputPath, check_paths
from avdata.loaders.shards import ShardOptions, write_shards
from avdata.pathcheck import DIR
from avdata.storage import is_remote, parse_storage_options

_UNITS = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
          "KIB": 2**10, "MIB": 2**20, "GIB": 2**30}


def parse_size(text: str) -> int:
    """``1GB``, ``500MB``, ``2GiB``, ``123456`` -> bytes."""
    t = text.strip().upper().replace(" ", "")
    num = t.rstrip("KMGTIB")
    unit = t[len(num):]
    try:
        value = float(num) * _UNITS[unit]
    except (ValueError, KeyError) as e:
        raise click.BadParameter(f"not a size: {text!r} (examples: 1GB, 500MB, 2GiB)") from e
    if not math.isfinite(value) or value < 1:
        raise click.BadParameter(f"size must be a positive finite number of bytes: {text!r}")
    return int(value)


@cli.command("shards")
@click.argument("index_file", type=InputPath(exists=True, dir_okay=False, readable=False))
@click.option("--media", required=True, type=InputPath(exists=True, file_okay=False),
              help="Media root the index's dir/aclip/frame paths resolve below.")
@out_option("Folder for the shards: a path, or an object-store URL (s3://bucket/prefix, any fsspec URL).",
            required=True, type=str)
@click.option("--name", default=None, help="Shard name prefix (default: the index file's stem).")
@click.option("--target-size", default="1GB", show_default=True, help="Close a shard near this size.")
@click.option("--shuffle", is_flag=True, help="Shuffle the lines before sharding (see --seed).")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(0), help="Random seed of --shuffle.")
@click.option("--weights", type=InputPath(exists=True, dir_okay=False, readable=False), default=None,
              help="Weights file (default: INDEX_weight.csv beside the index, when present).")
@click.option("--no-features", is_flag=True, help="Leave aclip_128 / frame_224 .npz out of the shards.")
@click.option("--workers", type=int, default=None, help="Processes writing shards (default: all cores).")
@executor_options()
@click.option("--retry-failed", is_flag=True, help="Write again the shards a previous run failed on.")
@click.option("--storage-option", "storage_option", multiple=True, metavar="KEY=VALUE",
              help="fsspec option of a URL --out (e.g. endpoint_url=http://host:9000); credentials come from "
                   "the usual configuration, never from a file avdata writes.")
@click.option("--state", type=click.Path(file_okay=False), default=None,
              help="URL --out: local folder for the manifest while writing [default: ~/.cache/avdata/shards/...].")
# a URL --out is checked by writing a probe object (write_shards), a local one here
@check_paths(outputs={"out": DIR}, needs=("index_file", "weights"), inputs=("media",),
             reads_only=lambda kw: is_remote(kw["out"]))
def shards_command(index_file: str, media: str, out: str, name: str | None, target_size: str, shuffle: bool,
                   seed: int, weights: str | None, no_features: bool, workers: int | None, executor: str,
                   ray_address: str | None, retry_failed: bool, storage_option: tuple[str, ...],
                   state: str | None) -> None:
    """Write INDEX_FILE's samples as WebDataset tars NAME-000000.tar ... and NAME.shards.json
    (into a folder, or uploaded to an object store)."""
    res = write_shards(ShardOptions(index=index_file, media=media, out=out, name=name,
                                    target_size=parse_size(target_size), shuffle=shuffle, seed=seed,
                                    weights=weights, features=not no_features, workers=workers, executor=executor,
                                    ray_address=ray_address, retry_failed=retry_failed,
                                    storage_options=tuple(parse_storage_options(storage_option).items()),
                                    state=state))
    for msg in res.skipped[:20]:
        click.echo(msg, err=True)
    if len(res.skipped) > 20:
        click.echo(f"... {len(res.skipped) - 20} more line(s) skipped", err=True)
    for failed in res.failed:
        click.echo(f"{failed.name}: {failed.status}: {failed.message}", err=True)
    for line in res.lines():
        click.echo(line)
    if res.skipped or res.failed:
        raise PartialFailure()
