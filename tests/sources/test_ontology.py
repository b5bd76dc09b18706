from pathlib import Path

import pytest

from avdata.errors import InputFormatError
from avdata.sources.ontology import MUSIC, SPEECH, Ontology, label_index

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data" / "audioset" / "ontology.json"


def test_bundled_ontology_has_632_classes_and_speech_subtree() -> None:
    onto = Ontology.load()
    assert len(onto) == 632
    speech = onto.descendants([SPEECH])
    assert "/m/05zppz" in speech and SPEECH in speech  # Male speech, man speaking
    assert onto.name("/m/05zppz") == "Male speech, man speaking"
    assert SPEECH in onto.ancestors("/m/05zppz")
    assert MUSIC not in speech
    assert onto.classes["/m/0dgw9r"].abstract


@pytest.mark.skipif(not SHARED.exists(), reason="../shared not beside the checkout")
def test_bundled_ontology_is_the_published_file() -> None:
    assert Ontology.load(SHARED).classes == Ontology.load().classes


def test_label_index_is_stable_and_uses_ontology_order() -> None:
    onto = Ontology.load()
    a = label_index(["/m/04rlf", "/m/09x0r", "/x/unknown"], onto)
    b = label_index(["/x/unknown", "/m/09x0r", "/m/04rlf", "/m/09x0r"], onto)
    assert a == b
    assert list(a)[-1] == "/x/unknown"
    assert onto.unknown(a) == {"/x/unknown"}


def test_broken_ontology_is_reported(tmp_path: Path) -> None:
    p = tmp_path / "o.json"
    p.write_text('[{"id": "/m/1"}]')
    with pytest.raises(InputFormatError, match="o.json"):
        Ontology.load(p)
