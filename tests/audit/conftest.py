"""Fixtures of the audit and lock tests: the planted corpus, built once per session."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "browser"))   # browser_pages, for the page test

from audit_corpus import AuditCorpus, build_audit_corpus  # noqa: E402


@pytest.fixture(scope="session")
def planted(tmp_path_factory: pytest.TempPathFactory) -> AuditCorpus:
    return build_audit_corpus(tmp_path_factory.mktemp("planted"))


@pytest.fixture(scope="session")
def audited(planted: AuditCorpus, tmp_path_factory: pytest.TempPathFactory):
    from avdata.audit import AuditOptions, run_audit

    out = tmp_path_factory.mktemp("audit")
    res = run_audit(AuditOptions(index=(str(planted.train), str(planted.eval)), media=planted.media, out=out / "audit",
                                 clean=out / "clean", progress=False))
    return res, out
