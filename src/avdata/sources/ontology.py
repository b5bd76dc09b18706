"""The AudioSet ontology (``ontology.json``): names, children, parents, restrictions, descendants,
and a stable label index for multi-hot vectors."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from avdata.errors import InputFormatError
from avdata.pathcheck import input_problem

SPEECH = "/m/09x0r"
MUSIC = "/m/04rlf"


@dataclass(frozen=True)
class OntologyClass:
    """One class of the ontology."""

    id: str
    name: str
    description: str = ""
    child_ids: tuple[str, ...] = ()
    restrictions: tuple[str, ...] = ()

    @property
    def abstract(self) -> bool:
        return "abstract" in self.restrictions

    @property
    def blacklisted(self) -> bool:
        return "blacklist" in self.restrictions


@dataclass
class Ontology:
    """The class tree. ``classes`` keeps the file's order."""

    classes: dict[str, OntologyClass]
    parents: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.parents:
            parents: dict[str, list[str]] = {cid: [] for cid in self.classes}
            for cls in self.classes.values():
                for child in cls.child_ids:
                    parents.setdefault(child, []).append(cls.id)
            self.parents = {k: tuple(v) for k, v in parents.items()}

    @classmethod
    def load(cls, path: str | os.PathLike[str] | None = None) -> Ontology:
        """Read ``ontology.json``; without a path, the copy bundled with avdata."""
        text: str | bytes
        if path is None:
            text = resources.files("avdata").joinpath("data/ontology.json").read_text("utf-8")
            where = "avdata/data/ontology.json"
        else:
            where = str(path)
            problem = input_problem(path)
            if problem is not None:
                raise InputFormatError(where, None, problem)
            text = Path(path).read_bytes()
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as e:
            raise InputFormatError(where, e.lineno, f"not valid JSON: {e.msg}") from e
        except UnicodeDecodeError as e:
            raise InputFormatError(where, None, f"not UTF-8 text (byte {e.start}: {e.reason})") from e
        if not isinstance(raw, list):
            raise InputFormatError(where, None, "expected a JSON list of classes")
        classes: dict[str, OntologyClass] = {}
        for i, item in enumerate(raw):
            if not isinstance(item, dict) or not isinstance(item.get("id"), str) \
                    or not isinstance(item.get("name"), str):
                raise InputFormatError(where, None, f"class #{i} lacks a text 'id' or 'name'")
            children, restrictions = item.get("child_ids", ()), item.get("restrictions", ())
            if not isinstance(children, list | tuple) or not all(isinstance(c, str) for c in children) \
                    or not isinstance(restrictions, list | tuple):
                raise InputFormatError(where, None, f"class #{i}: 'child_ids' is not a list of ids")
            classes[item["id"]] = OntologyClass(
                id=item["id"],
                name=item["name"],
                description=str(item.get("description", "")),
                child_ids=tuple(children),
                restrictions=tuple(restrictions),
            )
        return cls(classes)

    def __len__(self) -> int:
        return len(self.classes)

    def __contains__(self, class_id: object) -> bool:
        return class_id in self.classes

    def name(self, class_id: str) -> str:
        """The class name, or the id itself when unknown."""
        cls = self.classes.get(class_id)
        return cls.name if cls else class_id

    def children(self, class_id: str) -> tuple[str, ...]:
        cls = self.classes.get(class_id)
        return cls.child_ids if cls else ()

    def descendants(self, class_ids: Iterable[str], *, include_self: bool = True) -> set[str]:
        """All classes below the given ones (the ontology is a DAG; each class counted once)."""
        roots = list(class_ids)
        seen: set[str] = set(roots) if include_self else set()
        stack = list(roots)
        while stack:
            for child in self.children(stack.pop()):
                if child not in seen:
                    seen.add(child)
                    stack.append(child)
        return seen

    def ancestors(self, class_id: str) -> set[str]:
        """All classes above ``class_id``."""
        seen: set[str] = set()
        stack = [class_id]
        while stack:
            for parent in self.parents.get(stack.pop(), ()):
                if parent not in seen:
                    seen.add(parent)
                    stack.append(parent)
        return seen

    def unknown(self, class_ids: Iterable[str]) -> set[str]:
        """The ids that are not classes of this ontology."""
        return {c for c in class_ids if c not in self.classes}


def label_index(labels_in_use: Iterable[str], ontology: Ontology | None = None) -> dict[str, int]:
    """A stable label -> column map for multi-hot vectors over the labels that actually occur.

    Order: ontology file order for known labels, then unknown labels sorted; the same set of
    labels always gives the same map.
    """
    used = set(labels_in_use)
    ordered: list[str] = []
    if ontology is not None:
        ordered = [cid for cid in ontology.classes if cid in used]
    known = set(ordered)
    ordered += sorted(used - known)
    return {label: i for i, label in enumerate(ordered)}
