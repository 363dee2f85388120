"""Reading a policy file: bounded before it is trusted (issue 10), parsed as JSON or YAML, then
validated (with revision files merged in first).

At most ``MAX_POLICY_BYTES``, nesting at most ``MAX_DEPTH`` levels, at most ``MAX_ALIASES`` YAML
alias uses and ``MAX_NODES`` nodes once they are expanded (the "billion laughs" is refused while
it is composed, long before it is built). Each refusal is a ``PolicyProblem`` naming the file and,
where it can, the line and column; a hostile file costs a fraction of a second.
"""

from __future__ import annotations

import json
import re
from collections.abc import Hashable, Sequence
from typing import Any

import yaml

from ..errors import PolicyError, PolicyProblem
from ..policy import PolicySet
from .revisions import merge_revisions
from .text import kind, show
from .validator import Validator

#: Bounds of a policy file: none is near what a policy needs, and each keeps a hostile file from
#: costing more than a fraction of a second and a few MB (the loader never builds what it refuses).
MAX_POLICY_BYTES = 4 * 1024 * 1024
MAX_DEPTH = 64  # nested mappings and lists; a policy uses about 7
MAX_ALIASES = 1000  # YAML alias uses (*name)
MAX_NODES = 1_000_000  # nodes of the document with every alias expanded


def load_policy_file(path: str, revisions: Sequence[str] = ()) -> PolicySet:
    """Load the policy file at ``path``; with ``revisions``, the files whose calendars and
    policies are merged into it first (``merge_revisions``), validated as one document."""
    problems: list[PolicyProblem] = []
    docs = []
    for file in (path, *revisions):
        try:
            docs.append((file, read_policy_document(file)))
        except PolicyError as exc:
            problems += exc.problems
    if problems:
        raise PolicyError(problems)
    if not revisions:
        return Validator(path).policy_set(docs[0][1])
    merged = merge_revisions(docs[0][1], path, docs[1:])
    return Validator(path, merged.origins).policy_set(merged.doc)


def load_policies(text: str, file: str = "<policies>") -> PolicySet:
    """Parse and validate a policy document; raise ``PolicyError`` listing every problem."""
    return Validator(file).policy_set(parse_policy_document(text, file))


def read_policy_document(path: str) -> Any:
    """The parsed YAML or JSON document of a policy file, not yet validated; a file over
    ``MAX_POLICY_BYTES`` is refused unread (no more than that is read of it)."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_POLICY_BYTES + 1)
    except OSError as exc:
        message = f"cannot read the file: {exc.strerror}"
        raise PolicyError([PolicyProblem(path, "", message)]) from None
    if len(data) > MAX_POLICY_BYTES:
        raise PolicyError([PolicyProblem(path, "", _too_big())])
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PolicyError([PolicyProblem(path, "", f"not UTF-8: byte {exc.start} is "
                                         f"{exc.object[exc.start]:#04x}")]) from None
    return parse_policy_document(text, path)


def _too_big(size: int | None = None) -> str:
    written = f"{size:,} bytes" if size is not None else "larger than that"
    return (f"a policy file is at most {MAX_POLICY_BYTES // 2**20} MiB ({MAX_POLICY_BYTES:,} "
            f"bytes), this one is {written}")


def parse_policy_document(text: str, file: str = "<policies>") -> Any:
    """YAML or JSON text as a document (mappings, lists, scalars); ``PolicyError`` if neither,
    or if it is past a bound (``MAX_POLICY_BYTES``, ``MAX_DEPTH``, ``MAX_ALIASES``,
    ``MAX_NODES``)."""
    if len(text) > MAX_POLICY_BYTES // 4:  # only then can its UTF-8 be past the bound
        size = len(text.encode("utf-8", "surrogatepass"))
        if size > MAX_POLICY_BYTES:
            raise PolicyError([PolicyProblem(file, "", _too_big(size))])
    deep_at = _json_too_deep(text)
    try:
        # JSON first: PyYAML (YAML 1.1) refuses tab indentation and reads 5e-1 as a string
        doc = json.loads(text, object_pairs_hook=_unique_pairs)
    except RecursionError:  # deeper than json reads: it is too deep as JSON or as YAML
        raise PolicyError([_deep_json(file, text, deep_at or 0)]) from None
    except ValueError:  # not JSON, or a duplicate key: the YAML parser reads it and names the line
        try:
            return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            problem = getattr(exc, "problem", None) or str(exc)
            message = problem if isinstance(exc, _Refused) else f"not valid YAML/JSON: {problem}"
            raise PolicyError([PolicyProblem(file, where, message)]) from None
    if deep_at is not None:
        raise PolicyError([_deep_json(file, text, deep_at)])
    return doc


#: A JSON string (closed or not) or a bracket: what the depth scan of JSON text steps on.
_JSON_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?|[\[\]{}]', re.DOTALL)


def _json_too_deep(text: str) -> int | None:
    """The offset of the first bracket of ``text`` nested past ``MAX_DEPTH`` levels, outside
    JSON strings; None when there is none. Cheap: a file with few brackets is not scanned."""
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return None
    depth = 0
    for m in _JSON_TOKEN.finditer(text):
        c = text[m.start()]
        if c == "[" or c == "{":
            depth += 1
            if depth > MAX_DEPTH:
                return m.start()
        elif c == "]" or c == "}":
            depth -= 1
    return None


def _deep_json(file: str, text: str, offset: int) -> PolicyProblem:
    line = text.count("\n", 0, offset) + 1
    column = offset - text.rfind("\n", 0, offset)
    return PolicyProblem(file, f"line {line}, column {column}",
                         f"nested more than {MAX_DEPTH} levels deep: {_NO_USE}")


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        msg = "duplicate key"
        raise ValueError(msg)
    return out




#: What a refusal says after what it found.
_NO_USE = "a policy file has no use for that"


class _Refused(yaml.MarkedYAMLError):
    """A document the loader will not build (too deep, too many aliases, too big): ``what`` it
    found, at ``mark``; its ``problem`` is the whole message."""

    def __init__(self, what: str, mark: Any) -> None:
        super().__init__(problem=f"{what}: {_NO_USE}", problem_mark=mark)


class _Loader(yaml.SafeLoader):
    """YAML without implicit timestamps (instants stay strings), with duplicate keys refused, and
    bounded while it is composed: ``MAX_DEPTH`` levels, ``MAX_ALIASES`` alias uses, ``MAX_NODES``
    nodes with every alias expanded (each alias counts the nodes of what it names), no alias
    inside the node it names. The document is refused before the constructor or the validator
    sees it, so neither recursion limits nor memory are ever reached."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._aliases = 0
        self._nodes = 0  # composed so far, aliases expanded
        self._sizes: dict[str, int] = {}  # anchor -> expanded nodes of its node, once composed

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        if isinstance(event, yaml.AliasEvent):
            if event.anchor in self.anchors:  # an undefined one: the composer says so
                size = self._sizes.get(str(event.anchor))
                if size is None:
                    msg = (f"the YAML alias *{event.anchor} is inside the node it names "
                           "(a recursive structure)")
                    raise _Refused(msg, event.start_mark)
                self._aliases += 1
                if self._aliases > MAX_ALIASES:
                    msg = f"more than {MAX_ALIASES:,} YAML alias uses"
                    raise _Refused(msg, event.start_mark)
                self._count(size, event.start_mark)
            return super().compose_node(parent, index)
        nested = isinstance(event, yaml.CollectionStartEvent)
        if nested:
            self._depth += 1
            if self._depth > MAX_DEPTH:
                msg = f"nested more than {MAX_DEPTH} levels deep"
                raise _Refused(msg, event.start_mark)
        before = self._nodes
        self._count(1, event.start_mark)
        node = super().compose_node(parent, index)
        if nested:
            self._depth -= 1
        if event.anchor is not None:
            self._sizes[event.anchor] = self._nodes - before
        return node

    def _count(self, nodes: int, mark: Any) -> None:
        self._nodes += nodes
        if self._nodes > MAX_NODES:
            what = "YAML aliases expand past" if self._aliases else "more than"
            msg = f"{what} {MAX_NODES:,} nodes"
            raise _Refused(msg, mark)


_Loader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:timestamp"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _construct_mapping(
    loader: _Loader, node: yaml.MappingNode, deep: bool = False
) -> dict[Any, Any]:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":  # <<: *base, flattened by construct_mapping
            continue
        key = loader.construct_object(key_node, deep=deep)
        if not isinstance(key, Hashable):
            raise yaml.constructor.ConstructorError(
                None, None, f"a key must be a string, got {kind(key)}", key_node.start_mark)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {show(key)} (first at line {seen[key] + 1})",
                key_node.start_mark,
            )
        seen[key] = key_node.start_mark.line
    return loader.construct_mapping(node, deep=deep)


def _construct_int(loader: _Loader, node: yaml.ScalarNode) -> int:
    try:
        return yaml.SafeLoader.construct_yaml_int(loader, node)
    except ValueError:  # past the 4,300 digits Python converts
        msg = f"an integer of {len(node.value):,} characters"
        raise _Refused(msg, node.start_mark) from None


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor("tag:yaml.org,2002:int", _construct_int)
