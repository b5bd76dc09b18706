"""Fixtures of the train tests: the corpora, built once per session."""

from __future__ import annotations

import pytest

pytest.importorskip("torch", reason="the torch extra is not installed (pip install -e '.[torch]')")

from class_corpus import Corpus, build_corpus  # noqa: E402
from train_corpus import Written, shortcut_corpus, small_corpus  # noqa: E402


@pytest.fixture(scope="session")
def av_corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    """Four classes x 48 clips through the real pipeline, with one-modality distractors and on-screen
    sound sources (see tests/class_corpus.py)."""
    return build_corpus(tmp_path_factory.mktemp("av_corpus"), per_class=48, seed=3, distractors=1.0, objects=True)


@pytest.fixture(scope="session")
def shortcuts(tmp_path_factory: pytest.TempPathFactory) -> Written:
    return shortcut_corpus(tmp_path_factory.mktemp("shortcuts"))


@pytest.fixture(scope="session")
def small(tmp_path_factory: pytest.TempPathFactory) -> Written:
    return small_corpus(tmp_path_factory.mktemp("small"))
