"""The stage API: a small class over a stream of documents, registered by name.

Three shapes cover every stage:

- `Stage.process` transforms or annotates the stream (``normalize``).
- `Filter.decide` returns ``None`` to keep a document or a short reason code to reject it; the base
  class records the flag, routes the document by ``mode`` (``filter`` or ``annotate``) and counts the
  decision where it is made.
- `GlobalStage` needs every document before deciding on any (dedup, corpus statistics): the engine
  runs ``scan`` on every task, a barrier, ``reduce`` once, then ``process`` on every task; state
  passes between phases through files in ``ctx.state_dir``.

Stages never know executors, and executors never know stages by name.
"""

from __future__ import annotations

import dataclasses
import re
import typing
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from corpus import keys, rules
from corpus.document import Document
from corpus.errors import UserError
from corpus.io.records import READER_STAGE

if TYPE_CHECKING:
    from corpus.engine.context import ReduceContext, RunContext, StageContext

MODES = ("filter", "annotate")
# A label names folders in the run (``excluded/<label>/``, ``<label>/``, ``.work/<label>/``) and keys in
# the ledger, so it is a plain name; it may not be the reader's ledger key nor a run folder's name.
LABEL = re.compile(r"[a-z0-9_-]{1,64}")
RESERVED_LABELS = (READER_STAGE, "data", "excluded", "quarantine", "report", "review", "tokens")


@dataclasses.dataclass
class NoParams:
    pass


class Stage:
    """Base class. Subclasses set ``name``, a ``Params`` dataclass and, optionally, ``rules``.

    ``rules`` names a YAML file under ``rules/`` whose keys give the parameter defaults (published
    thresholds live there, not in code); inline keys in the pipeline YAML override both.
    """

    name: ClassVar[str]
    # What the stage does, one of `corpus.keys.CATEGORIES` (``stats.json`` records it per stage; the report
    # finds its PII and dedup stages by it, whatever their labels). A stage that declares none, such as
    # a user's own from before categories existed, is ``other``: counted, never taken for PII or dedup.
    category: ClassVar[str] = keys.OTHER
    Params: ClassVar[type] = NoParams
    rules: ClassVar[str | None] = None
    doc: ClassVar[str] = ""
    # Parameters that name files or folders: a relative value that exists beside the pipeline YAML
    # is resolved against the YAML's folder, like input paths (hub names and the like stay as given).
    path_params: ClassVar[tuple[str, ...]] = ()
    # Mappings whose order is part of their meaning (``tokenize``'s ``mix``: the first pattern naming a
    # source wins): the config hash keeps their order, where every other mapping is hashed by sorted key.
    ordered_params: ClassVar[tuple[str, ...]] = ()
    # Why the stage must be the pipeline's last, if it must: checked when the config is resolved, so
    # ``validate`` and ``build`` refuse the order before any work.
    must_be_last: ClassVar[str | None] = None

    def __init__(self, params: Any, mode: str = "filter", label: str | None = None):
        self.p = params
        self.mode = mode
        self.label = label or self.name

    def setup(self) -> None:
        """Load models and build engines: called once per worker process, before any task."""

    def warnings(self) -> list[str]:
        """Settings worth a word but not worth stopping for (a language code the model does not know);
        asked once, before the build, in the driver. The engine prints them and keeps them in stats.json."""
        return []

    def process(self, docs: Iterable[Document], ctx: StageContext) -> Iterator[Document]:
        raise NotImplementedError

    def finalize(self, ctx: RunContext) -> None:
        """Called once after every task has finished (e.g. to write a manifest of side outputs)."""

    def route(self, decided: Iterable[tuple[Document, str | None]], ctx: StageContext) -> Iterator[Document]:
        """Yield each document whose decision is ``None``; flag the others with their reason code and,
        in filter mode, send them to ``excluded/<label>/`` (annotate mode keeps them, flagged)."""
        annotate = self.mode == "annotate"
        for doc, reason in decided:
            if reason is None:
                yield doc
                continue
            doc.flag(self.label, reason)
            if annotate:
                ctx.flagged(reason)
                yield doc
            else:
                ctx.exclude(doc, reason)


class Filter(Stage):
    """A stage that keeps or rejects each document on its own."""

    def decide(self, doc: Document) -> str | None:
        raise NotImplementedError

    def process(self, docs: Iterable[Document], ctx: StageContext) -> Iterator[Document]:
        return self.route(((doc, self.decide(doc)) for doc in docs), ctx)


class GlobalStage(Stage):
    """A stage that needs a global view: ``scan`` every task, ``reduce`` once, then ``process``."""

    def scan(self, docs: Iterable[Document], ctx: StageContext) -> None:
        raise NotImplementedError

    def reduce(self, ctx: ReduceContext) -> None:
        raise NotImplementedError


# ---------------------------------------------------------------- registry

REGISTRY: dict[str, type[Stage]] = {}


def register(cls: type[Stage]) -> type[Stage]:
    if cls.name in REGISTRY and REGISTRY[cls.name] is not cls:
        raise RuntimeError(f"stage name {cls.name!r} registered twice")
    REGISTRY[cls.name] = cls
    return cls


def _stage_modules() -> dict[str, str]:
    """Stage name -> module, found by reading the sources under ``corpus/stages`` without importing them.

    A stage module may import heavy libraries (Presidio, torch) at import time; reading the source
    for ``@register`` classes and their ``name = "..."`` keeps a pipeline from paying for stages it
    does not use.
    """
    import ast

    import corpus.stages as pkg

    root = Path(pkg.__path__[0])
    out: dict[str, str] = {}
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        module = ".".join(("corpus", "stages", *path.relative_to(root).with_suffix("").parts))
        for node in tree.body:
            if not isinstance(node, ast.ClassDef):
                continue
            if not any(isinstance(d, ast.Name) and d.id == "register" for d in node.decorator_list):
                continue
            for stmt in node.body:
                if (isinstance(stmt, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "name" for t in stmt.targets)
                        and isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str)):
                    out[stmt.value.value] = module
    return out


_MODULES: dict[str, str] | None = None


def names() -> list[str]:
    global _MODULES
    if _MODULES is None:
        _MODULES = _stage_modules()
    return sorted(_MODULES)


def get(name: str) -> type[Stage]:
    """The stage class registered as ``name``, importing only the module that defines it."""
    import importlib

    if name not in REGISTRY:
        known = names()
        if name not in known:
            raise UserError(f"unknown stage {name!r} (known: {', '.join(known)})")
        importlib.import_module(_MODULES[name])
    return REGISTRY[name]


# ---------------------------------------------------------------- parameters

def _type_ok(value: Any, hint: Any) -> bool:
    origin = typing.get_origin(hint)
    if hint is Any:
        return True
    if origin is typing.Union or str(origin) == "<class 'types.UnionType'>":
        return any(_type_ok(value, h) for h in typing.get_args(hint))
    if hint is type(None):
        return value is None
    args = typing.get_args(hint)
    if origin in (list, tuple):  # every item too: a wrong one would crash the build, not validate
        item = args[0] if args and (origin is list or (len(args) == 2 and args[1] is Ellipsis)) else Any
        return isinstance(value, (list, tuple)) and all(_type_ok(v, item) for v in value)
    if origin is dict:
        key, val = args if len(args) == 2 else (Any, Any)
        return isinstance(value, dict) and all(_type_ok(k, key) and _type_ok(v, val) for k, v in value.items())
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(hint, type):
        return isinstance(value, hint)
    return True


def param_defaults(cls: type[Stage]) -> dict[str, Any]:
    """Defaults from the dataclass, overridden by the stage's rules file."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(cls.Params):
        if f.default is not dataclasses.MISSING:
            out[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            out[f.name] = f.default_factory()
    if cls.rules:
        data = rules.load(cls.rules) or {}
        unknown = set(data) - set(out) - {f.name for f in dataclasses.fields(cls.Params)}
        if unknown:
            raise UserError(f"rules file {cls.rules}: unknown keys {sorted(unknown)} for stage {cls.name!r}")
        out.update(data)
    return out


def resolve_paths(spec: dict[str, Any], base_dir: Path) -> dict[str, Any]:
    """``spec`` with its stage's path parameters made absolute where they exist under ``base_dir``.

    A path parameter holds a path, a list of paths, or a mapping of names to paths.
    """
    cls = get(spec.get("stage")) if isinstance(spec.get("stage"), str) else None
    if cls is None:
        return spec

    def fix(v: Any) -> Any:
        if isinstance(v, str) and v and not Path(v).is_absolute() and (base_dir / v).exists():
            return str((base_dir / v).resolve())
        return v

    out = dict(spec)
    for key in cls.path_params:
        value = out.get(key)
        if isinstance(value, list):
            out[key] = [fix(v) for v in value]
        elif isinstance(value, dict):
            out[key] = {k: fix(v) for k, v in value.items()}
        elif value is not None:
            out[key] = fix(value)
    return out


def check_label(name: str, label: Any) -> None:
    if not isinstance(label, str) or not LABEL.fullmatch(label):
        raise UserError(f"stage {name!r}: label {label!r} must be a simple name of up to 64 lowercase letters, "
                        "digits, '_' and '-' (it names folders in the run directory)")
    if label in RESERVED_LABELS:
        raise UserError(f"stage {name!r}: label {label!r} is reserved (reserved: {', '.join(RESERVED_LABELS)}); "
                        "choose another")


def check_order(resolved_stages: list[dict[str, Any]]) -> None:
    """Refuse a stage that must be last (`Stage.must_be_last`) anywhere else in the pipeline."""
    for spec in resolved_stages[:-1]:
        why = get(spec["stage"]).must_be_last
        if why:
            raise UserError(f"stage {spec.get('label', spec['stage'])!r} must be the last stage of the pipeline ({why})")


def build(spec: dict[str, Any]) -> tuple[Stage, dict[str, Any]]:
    """Make a stage from its pipeline entry; returns it with its resolved entry (every default filled)."""
    spec = dict(spec)
    name = spec.pop("stage", None)
    if not isinstance(name, str):
        raise UserError("every entry under 'stages' needs a 'stage: <name>' key")
    cls = get(name)
    mode = spec.pop("mode", "filter")
    if mode not in MODES:
        raise UserError(f"stage {name!r}: mode must be one of {', '.join(MODES)}, not {mode!r}")
    label = spec.pop("label", name)
    check_label(name, label)
    fields = {f.name: f for f in dataclasses.fields(cls.Params)}
    unknown = sorted(set(spec) - set(fields))
    if unknown:
        allowed = ", ".join(["stage", "mode", "label", *fields])
        raise UserError(f"stage {name!r}: unknown key {unknown[0]!r} (allowed: {allowed})")
    values = param_defaults(cls) | spec
    missing = sorted(set(fields) - set(values))
    if missing:
        raise UserError(f"stage {name!r}: missing required key {missing[0]!r}")
    hints = typing.get_type_hints(cls.Params)
    for key, value in values.items():
        if not _type_ok(value, hints.get(key, Any)):
            raise UserError(f"stage {name!r}: {key} must be {hints[key]}, got {value!r}")
    params = cls.Params(**values)
    check = getattr(params, "check", None)
    if check is not None:
        check()
    resolved = {"stage": name, "mode": mode, **({"label": label} if label != name else {}), **values}
    return cls(params, mode=mode, label=label), resolved
