"""The stage API: a small class over a stream of documents, registered by name.

Three shapes cover every stage:

- `Stage.process` transforms or annotates the stream (``normalize``).
- `Filter.decide` returns ``None`` to keep a document or a short reason code to reject it; the base
  class records the flag, routes the document by ``mode`` (``filter`` or ``annotate``) and counts the
  decision where it is made.
- `GlobalStage` needs every document before deciding on any (dedup, corpus statistics): the engine
  runs ``scan`` on every task, a barrier, ``reduce`` once, then ``process`` on every task; state
  passes between phases through files in ``ctx.state_dir``. Whether an instance needs that pass is its
  own answer (`Stage.needs_global`): a classifier with a fixed threshold does not.

The base class runs ``setup()`` once before the first ``process``, ``scan`` or ``decide`` of an
instance, whoever calls them (the engine, `corpus.stages.testing.run_stage`, a test), so no stage
guards against a skipped ``setup``.

Stages are found by name in the modules under ``corpus/stages`` and in the ``thresher.stages`` entry
point group (``name = "module:Class"``), so a user's stage is a pip package. Stages never know
executors, and executors never know stages by name.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import typing
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from corpus import keys, rules, schema
from corpus.document import Document
from corpus.errors import Fault, UserError
from corpus.io.records import READER_STAGE
from corpus.rundir import RESERVED

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

    from corpus.stages.context import ReduceContext, RunContext, StageContext

MODES = ("filter", "annotate")
# A label names folders in the run (``excluded/<label>/``, ``<label>/``, ``.work/<label>/``) and keys in
# the ledger, so it is a plain name; it may not be the reader's ledger key nor a run folder's name.
LABEL = re.compile(r"[a-z0-9_-]{1,64}")
RESERVED_LABELS = (READER_STAGE, *RESERVED)


@dataclasses.dataclass
class NoParams:
    pass


# The methods that may rely on ``setup()`` having run: each is wrapped (`_after_setup`) where a class
# defines it. ``reduce``, ``finalize`` and ``warnings`` run in the driver, where loading models would
# cost for nothing; a stage that needs its setup there calls `Stage.ensure_setup` itself.
_NEEDS_SETUP = ("process", "scan", "decide")
_F = TypeVar("_F")


def _after_setup(method: _F) -> _F:
    @functools.wraps(method)
    def wrapper(self: Stage, *args: Any, **kwargs: Any) -> Any:
        self.ensure_setup()
        return method(self, *args, **kwargs)

    wrapper.after_setup = True
    return wrapper


def _marks_setup(setup: _F) -> _F:
    """``setup`` that records on the instance that it ran, so one called directly is not run again."""
    @functools.wraps(setup)
    def wrapper(self: Stage) -> None:
        setup(self)
        self._set_up = True

    wrapper.after_setup = True
    return wrapper


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

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name in ("setup", *_NEEDS_SETUP):
            method = cls.__dict__.get(name)
            if method is not None and not getattr(method, "after_setup", False):
                setattr(cls, name, (_marks_setup if name == "setup" else _after_setup)(method))

    def setup(self) -> None:
        """Load models and build engines: run once per instance (in each worker process) before its
        first ``process``, ``scan`` or ``decide``; see `ensure_setup`."""

    def ensure_setup(self) -> None:
        """Run ``setup()`` unless it already ran on this instance (a failed one runs again next time)."""
        if not self.__dict__.get("_set_up"):
            self.setup()
            self._set_up = True  # (a stage without a setup of its own: the base's does nothing)

    def needs_global(self) -> bool:
        """Whether this instance needs every task's ``scan`` and one ``reduce`` before it processes any
        document: the engine cuts a pass before it if so. A `GlobalStage` does unless its settings say
        otherwise (override this then); any other stage never does."""
        return False

    def check(self) -> None:
        """Check what the parameters name, past their shape (which the ``Params``' own ``check`` sees):
        the files exist, the models load, the names are known. `validate` and `build` run it once, in
        the driver, before any task (`check_stages`), so such a mistake stops a build before it starts;
        raise `UserError`."""

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

    def needs_global(self) -> bool:
        return True

    def scan(self, docs: Iterable[Document], ctx: StageContext) -> None:
        raise NotImplementedError

    def reduce(self, ctx: ReduceContext) -> None:
        raise NotImplementedError


# ---------------------------------------------------------------- registry

REGISTRY: dict[str, type[Stage]] = {}
# Stages outside this package: ``[project.entry-points."thresher.stages"] name = "module:Class"``.
ENTRY_POINTS = "thresher.stages"


def register(cls: type[Stage]) -> type[Stage]:
    if cls.name in REGISTRY and REGISTRY[cls.name] is not cls:
        raise RuntimeError(f"stage name {cls.name!r} registered twice")
    REGISTRY[cls.name] = cls
    return cls


# A class at module level under decorators of which one is ``@register`` or ``@<module>.register``, and
# its body (the lines after the ``class`` line up to the next one at column 0); in that body, a
# ``name = "..."`` at the body's own indentation (not inside a method).
_DECORATED_CLASS = re.compile(r"^((?:@[^\n]*\n)+)class\s+\w+\s*(?:\([^)]*\))?\s*:[^\n]*\n((?:[ \t][^\n]*\n|[ \t]*\n)*)", re.M)
_REGISTER_LINE = re.compile(r"^@(?:\w+\.)*register[ \t]*(?:#[^\n]*)?$", re.M)
_FIRST_INDENT = re.compile(r"(?:[ \t]*\n)*([ \t]*)")
_NAME_LINE = re.compile(r"""^([ \t]+)name\s*=\s*(["'])([^"'\n]+)\2[ \t]*(?:#[^\n]*)?$""", re.M)


def registered_names(source: str) -> list[str]:
    """The ``name``s of the registered stage classes a module's source defines, read without importing
    or parsing it (every build looks its stages up: `ast` over the package took 0.04 s of each, the
    scan 2 ms); tests/test_stage_api.py checks it against `ast` on every module of the package."""
    out = []
    for cls in _DECORATED_CLASS.finditer(source + "\n"):
        if _REGISTER_LINE.search(cls.group(1)):
            indent = _FIRST_INDENT.match(cls.group(2)).group(1)
            out += [m.group(3) for m in _NAME_LINE.finditer(cls.group(2)) if m.group(1) == indent]
    return out


def _stage_modules() -> dict[str, str]:
    """Stage name -> module, found by reading the sources under ``corpus/stages`` without importing them.

    A stage module may import heavy libraries (Presidio, torch) at import time; reading the source
    for registered classes and their ``name = "..."`` keeps a pipeline from paying for stages it
    does not use.
    """
    import corpus.stages as pkg

    root = Path(pkg.__path__[0])
    out: dict[str, str] = {}
    for path in sorted(root.rglob("*.py")):
        module = ".".join(("corpus", "stages", *path.relative_to(root).with_suffix("").parts))
        out.update(dict.fromkeys(registered_names(path.read_text(encoding="utf-8")), module))
    return out


def _entry_points() -> dict[str, EntryPoint]:
    """Installed packages' stages, by name (importing none of them)."""
    from importlib.metadata import entry_points

    return {ep.name: ep for ep in entry_points(group=ENTRY_POINTS)}


_MODULES: dict[str, str] | None = None
_PLUGINS: dict[str, EntryPoint] | None = None


def _known() -> tuple[dict[str, str], dict[str, EntryPoint]]:
    global _MODULES, _PLUGINS
    if _MODULES is None or _PLUGINS is None:
        _MODULES, _PLUGINS = _stage_modules(), _entry_points()
    return _MODULES, _PLUGINS


def names() -> list[str]:
    """Every stage name: this package's and the installed packages' (entry points)."""
    modules, plugins = _known()
    return sorted({*modules, *plugins})


def get(name: str) -> type[Stage]:
    """The stage class registered as ``name``, importing only the module that defines it."""
    import importlib

    if name in REGISTRY:
        return REGISTRY[name]
    modules, plugins = _known()
    if name in modules and name in plugins:
        raise UserError(f"stage {name!r} is a Thresher stage and also the entry point {plugins[name].value!r} "
                        f"of an installed package; rename the package's stage")
    if name in modules:
        importlib.import_module(modules[name])
        return REGISTRY[name]
    if name in plugins:
        return register(_plugin_class(plugins[name]))
    raise UserError(f"unknown stage {name!r} (known: {', '.join(names())})")


def _plugin_class(ep: EntryPoint) -> type[Stage]:
    """The class an entry point names, checked to be a stage of that name."""
    where = f"entry point {ep.name} = {ep.value} ({ENTRY_POINTS})"
    try:
        cls = ep.load()
    except Exception as e:  # noqa: BLE001 - an installed package that does not import is the machine's fault
        raise Fault(f"{where} cannot be loaded ({type(e).__name__}: {e}); reinstall or uninstall its package") from None
    if not (isinstance(cls, type) and issubclass(cls, Stage)):
        raise UserError(f"{where} names no subclass of corpus.stages.base.Stage")
    if getattr(cls, "name", None) != ep.name:
        raise UserError(f"{where}: the class's name is {getattr(cls, 'name', None)!r}; it must be {ep.name!r}")
    return cls


# ---------------------------------------------------------------- parameters

def param_defaults(cls: type[Stage]) -> dict[str, Any]:
    """Defaults from the dataclass, overridden by the stage's rules file; as YAML values (a nested
    dataclass default as its mapping), since they fill the resolved entry."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(cls.Params):
        if f.default is not dataclasses.MISSING:
            out[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            value = f.default_factory()
            out[f.name] = dataclasses.asdict(value) if dataclasses.is_dataclass(value) else value
    if cls.rules:
        data = rules.load(cls.rules) or {}
        _check_rules_file(cls, data)
        out.update(data)
    return out


def _check_rules_file(cls: type[Stage], data: Any) -> None:
    """The stage's rules file checked key by key against its ``Params`` (`corpus.schema`), each mistake
    one line naming the file; key by key because the file may leave keys to the dataclass or the entry."""
    where = f"rules file {cls.rules}"
    if not isinstance(data, dict):
        raise UserError(f"{where}: expected a mapping of stage {cls.name!r}'s parameters")
    fields = {schema.yaml_key(f.name): f.name for f in dataclasses.fields(cls.Params) if f.init}
    hints = typing.get_type_hints(cls.Params)
    for key, value in data.items():
        if key not in fields:
            raise UserError(f"{where}: {schema.unknown_key(key, '', list(fields))}")
        try:
            schema.check(key, value, hints[fields[key]])
        except UserError as e:
            raise UserError(f"{where}: {e}") from None


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


def check_stages(stages: list[Stage]) -> None:
    """What `validate` and `build` check of the built stages, once, before any task: no label twice
    (a label names the stage's folders and ledger entries), and each stage's own `Stage.check`."""
    labels = [s.label for s in stages]
    dup = next((lb for lb in labels if labels.count(lb) > 1), None)
    if dup is not None:
        raise UserError(f"stage label {dup!r} is used twice; give one of them 'label: <other name>'")
    for stage in stages:
        stage.check()


# The keys of a pipeline entry that are not the stage's parameters.
ENTRY_KEYS = ("stage", "mode", "label")


def build(spec: dict[str, Any], where: str = "") -> tuple[Stage, dict[str, Any]]:
    """Make a stage from its pipeline entry; returns it with its resolved entry (every default filled).

    The ``Params`` dataclass is the schema (`corpus.schema`): unknown keys, nested ones too, and values
    of the wrong type are a `UserError` naming the key; ``where`` is the entry's place (``stages[3]``)."""
    name = spec.get("stage")
    if not isinstance(name, str):
        raise UserError("every entry under 'stages' needs a 'stage: <name>' key")
    cls = get(name)
    mode = spec.get("mode", "filter")
    if mode not in MODES:
        raise UserError(f"stage {name!r}: mode must be one of {', '.join(MODES)}, not {mode!r}")
    label = spec.get("label", name)
    check_label(name, label)
    merged = param_defaults(cls) | dict(spec)
    try:
        params = schema.from_mapping(cls.Params, merged, where, ignore=ENTRY_KEYS)
    except UserError as e:
        raise UserError(f"stage {name!r}: {e}") from None
    values = {k: v for k, v in merged.items() if k not in ENTRY_KEYS}
    check = getattr(params, "check", None)
    if check is not None:
        check()
    resolved = {"stage": name, "mode": mode, **({"label": label} if label != name else {}), **values}
    return cls(params, mode=mode, label=label), resolved
