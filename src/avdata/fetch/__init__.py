"""Fetch: find or download every source video (local trees, any fsspec URL, YouTube via yt-dlp)
with retries, resume, a download archive and a manifest that says what failed and why.

    from avdata.fetch import FetchOptions, fetch, fetch_report
    summary = fetch("clips.parquet", FetchOptions(source="youtube", out=Path("videos")))
    print(fetch_report("videos/fetch_manifest.parquet", "clips.parquet").format())

Backends register by URI scheme (``avdata.fetch.backend.register_backend``): ``dir:``, fsspec URL
templates, ``youtube``, ``ytdlp:``. The manifest schema is ``avdata.fetch.schema``.
"""

from avdata.fetch.backend import FetchContext, Fetched, FetchJob, backend_names, open_backend, register_backend
from avdata.fetch.options import FetchOptions
from avdata.fetch.plan import plan_jobs
from avdata.fetch.report import FetchReport, fetch_report
from avdata.fetch.runner import FetchResult, FetchSummary, fetch
from avdata.fetch.schema import FETCH_MANIFEST_SCHEMA
from avdata.fetch.sections import plan_sections

__all__ = [
    "FETCH_MANIFEST_SCHEMA", "FetchContext", "FetchJob", "FetchOptions", "FetchReport", "FetchResult",
    "FetchSummary", "Fetched", "backend_names", "fetch", "fetch_report", "open_backend", "plan_jobs",
    "plan_sections", "register_backend",
]
