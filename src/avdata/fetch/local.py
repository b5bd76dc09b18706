"""``dir:PATH``: videos already on disk. YouTube ids are looked up as ``{id}.{ext}`` (any common
container), path sources by their relative path. Nothing is copied; ``--link`` makes symlinks in the
output tree instead, so extraction sees one layout whatever the source. Symlinks inside the tree
are followed (the link rule in ``avdata.paths``); a file reached through a link out of the tree is
probed and recorded ``not_media`` unless it is media (files inside the tree are not opened here:
a local tree of millions of files is listed, not read)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from avdata.atomic import temp_path_for
from avdata.errors import AvdataError, FetchError, UnsafePathError
from avdata.fetch.backend import FetchContext, Fetched, FetchJob, output_file, register_backend, youtube_file_name
from avdata.fetch.media_check import verify_media
from avdata.fetch.options import FetchOptions
from avdata.paths import is_youtube_id, source_path

VIDEO_EXTENSIONS = ("mp4", "mkv", "webm", "mov", "m4v", "avi", "flv", "3gp", "mpg", "mpeg", "ts", "ogv", "m4a")


@dataclass
class LocalTreeBackend:
    """Find each source under ``root``; report the missing ones (class ``missing``)."""

    root: Path
    link: bool = False
    name: str = "dir"
    rechecks_failures: bool = True

    def _find(self, job: FetchJob) -> tuple[Path, str]:
        if job.kind == "youtube":
            if not is_youtube_id(job.source):
                raise FetchError("bad_source", f"{job.source!r}: not a YouTube id")
            for ext in VIDEO_EXTENSIONS:
                rel = youtube_file_name(job.source, ext)
                candidate = source_path(self.root, rel)
                if candidate.is_file():
                    return candidate, rel
        else:
            candidate = source_path(self.root, job.source)
            if candidate.is_file():
                return candidate, job.source
        raise FetchError("missing", f"{job.source}: not found under {self.root}")

    def fetch(self, job: FetchJob, ctx: FetchContext) -> Fetched:
        try:
            found, rel = self._find(job)
        except UnsafePathError as e:
            raise FetchError("unsafe_path", str(e)) from e
        real = found.resolve()
        if real != self.root and self.root not in real.parents:
            verify_media(real, job.source)      # a link out of the tree must lead to media
        size = found.stat().st_size
        if not self.link:
            return Fetched(file=found, bytes=size, owned=False)
        dest = output_file(ctx.out, rel)
        if dest.is_symlink() and Path(os.readlink(dest)) == found:
            return Fetched(file=dest, bytes=size)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = temp_path_for(dest)
        os.symlink(found, tmp)
        fetched = Fetched(file=dest, bytes=size)
        ctx.landing(job, fetched)
        os.replace(tmp, dest)
        return fetched


@register_backend("dir")
def _make(uri: str, options: FetchOptions) -> LocalTreeBackend:
    root = Path(uri.partition(":")[2]).expanduser()
    if not root.is_dir():
        raise AvdataError(f"{uri}: {root} is not a directory")
    return LocalTreeBackend(root=root.resolve(), link=options.link)
