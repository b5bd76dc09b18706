"""An indexed example corpus shared by the loader tests.

The index tests' example (``tests/index/conftest.py``: real AudioSet rows, MP3s at 22.05/32/44.1 kHz,
mono and stereo, 4 frames per clip that show their own time) run through the real index stage with
features and the weights stage: index files with ``aclip_128`` / ``frame_224`` and weights, in ~10 s
(the full demo spends most of its time encoding stand-in videos).
"""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from avdata.index.build import IndexOptions, build_index
from avdata.weights import WeightsOptions, write_weights

INDEX_TESTS = Path(__file__).resolve().parents[1] / "index"


def _index_example_module():
    if "index_example_fixture" not in sys.modules:
        sys.path.insert(0, str(INDEX_TESTS))          # for its ``real_rows`` import
        spec = importlib.util.spec_from_file_location("index_example_fixture", INDEX_TESTS / "conftest.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
    return sys.modules["index_example_fixture"]


@dataclass
class Corpus:
    root: Path
    index_dir: Path
    media: Path


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory, test_data: Path) -> Corpus:
    root = tmp_path_factory.mktemp("loaders_corpus")
    example = _index_example_module().build_example(root, test_data / "balanced_train_segments.csv")
    res = build_index(IndexOptions(clips=example.clips, manifest=example.manifest, media=example.media,
                                   out=root / "index", features=True, workers=1))
    for path in res.out.glob("src_*.csv"):
        if not path.stem.endswith("_weight"):
            write_weights(WeightsOptions(path))
    return Corpus(root, res.out, example.media)


@pytest.fixture(scope="session")
def train_index(corpus: Corpus) -> Path:
    """src_train_segments.csv: 5 clips at 22.05, 32 and 44.1 kHz (one stereo), with features."""
    return corpus.index_dir / "src_train_segments.csv"


@pytest.fixture(scope="session")
def media(corpus: Corpus) -> str:
    return str(corpus.media)
