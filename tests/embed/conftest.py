"""Fixtures of the embed tests: the labelled synthetic corpus, built once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from class_corpus import Corpus, build_corpus

PER_CLASS = 12     # 11 others of the seed's class: a perfect top-10 is possible


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    return build_corpus(tmp_path_factory.mktemp("corpus"), per_class=PER_CLASS, seed=7)
