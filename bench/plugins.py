"""Bring your own optimizer, init and task: a name or a user's object, resolved once, at the edge.

Every place that takes a name also takes, for each kind ("optimizer", "init", "task"):

- a built-in name (the registry the caller passes: `optimizers.OPTIMIZERS`, `inits.STRATEGIES`,
  `bench.tasks.TASKS`), else the name of an installed entry point of ENTRY_POINT_GROUPS[kind];
- `PATH.py:NAME`, a file (absolute or relative to the working directory) and a name in it;
- `package.module:NAME`, an importable module and a name in it;
- in Python, the object itself (or a mapping name -> object or spec).

`resolve` turns each into the objects the built-ins are (an `OptimizerSpec`, a `Strategy`, a
`Task`), with its provenance (`Resolved.source`: the file's sha256, or the package's version and
files), and checks it on a few tiny inputs so that anything wrong with a user's object ends in
one line, a `UsageError` naming it, never a traceback from the runner. Below this module
nothing knows whether a method is ours.

What a user's object becomes:

- optimizer: an `OptimizerSpec` as it is, or any callable `f(learning_rate, **hyperparameters)
  -> optax.GradientTransformation` (every optax alias, a functools.partial): its default grid is
  DEFAULT_LEARNING_RATES and its tuning space the learning rate, log-uniform over
  DEFAULT_LEARNING_RATE_RANGE, unless the object has attributes `learning_rates` (a tuple of
  rates) or `search_space` (name -> SearchDimension) of its own. `Resolved.traceable` is False
  when the factory cannot be built from traced hyperparameters (it calls `float(learning_rate)`,
  branches on a hyperparameter): it must then be compiled once per value.
- init: an `inits.Strategy` as it is, or a Flax initializer `(key, shape, dtype) -> array`, or a
  factory of one taking no arguments (`jax.nn.initializers.he_normal` and `he_normal()` both
  work): kernels from it, biases zero.
- task: a `bench.tasks.Task`; its data are loaded and checked, its model traced on two examples.

A user's name never shadows a built-in: an installed entry point or a user object under a
built-in's name is an error that says to rename it. A user's file is read and executed afresh on
every resolve, under a module name made from its absolute path (two `methods.py` in two folders
do not collide), and the sha256 recorded is that of the bytes executed; `imports` adds the
sha256 of every module beside it that it imports, found from the import statements (recursively,
in function bodies too); a task's source adds `data_sha256`, the hash of the arrays its load()
returned; an object given in Python adds `state`, the hash of what it carries (a partial's
arguments, a closure's values; what cannot be captured makes it never reused). (Python caches
an imported sibling for the life of a process: in one long session, an edited helper changes
the recorded hash, hence retrains, but the code that runs is the one imported first.)
"""
from __future__ import annotations

import ast
import difflib
import functools
import hashlib
import importlib
import importlib.metadata
import importlib.util
import inspect
import json
import math
import numbers
import reprlib
import sys
from pathlib import Path
from typing import Any, Callable, Mapping, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from bench.errors import UsageError
from inits.strategy import Strategy
from optimizers.spec import SCALES, OptimizerSpec, SearchDimension, numeric_arguments

KINDS = ("optimizer", "init", "task")
ENTRY_POINT_GROUPS = {"optimizer": "initopt.optimizers", "init": "initopt.inits", "task": "initopt.tasks"}
# A user optimizer's default learning-rate grid: half-decades over the range where the built-in
# optimizers' swept best rates fall on the small tasks (1e-4 for sign methods to 0.1 for SGD
# with momentum), so an unknown method gets a fair grid without tuning. An object's own
# `learning_rates` attribute replaces it.
DEFAULT_LEARNING_RATES = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1)
# A user optimizer's default tuning space: learning_rate log-uniform over this range (an
# object's own `search_space` attribute replaces it).
DEFAULT_LEARNING_RATE_RANGE = (1e-5, 1.0)

WHAT = {
    "optimizer": "an optimizer (a callable returning an optax.GradientTransformation, or an OptimizerSpec)",
    "init": "an init (a Flax initializer (key, shape, dtype) -> array, a factory of one, or an inits.Strategy)",
    "task": "a task (a bench.tasks.Task)",
}
# What a user object's source is recorded as when it was given in Python rather than named.
PYTHON_OBJECT = "<python object>"
# The tiny inputs every user object is checked on.
CHECK_LEARNING_RATE = 1e-3
INIT_SHAPES = ((5, 3), (3, 3, 2, 4))
TRACER_ERRORS = (jax.errors.ConcretizationTypeError, jax.errors.TracerBoolConversionError,
                 jax.errors.TracerIntegerConversionError, jax.errors.TracerArrayConversionError)


class Resolved(NamedTuple):
    """One resolved optimizer, init or task.

    name: what runs are recorded under. obj: an OptimizerSpec, a Strategy or a Task. source:
    None for a built-in, else JSON-able provenance ("spec" as the user gave it; "file" and
    "sha256" of the file it came from, and "imports", relative path -> sha256 of the modules
    from its folder that it uses; "package", "version" and "files_sha256" when it comes from an
    installed distribution). Reuse should key on the whole of it. traceable: an optimizer whose factory takes traced
    hyperparameters (always True for inits and tasks).
    """

    name: str
    obj: Any
    source: dict | None
    traceable: bool = True


# ---------------------------------------------------------------------------------------------
# Names


def split_names(text: str) -> list[str]:
    """"adam, ./m.py:heavy_ball" -> ["adam", "./m.py:heavy_ball"]: split on commas, stripped,
    empties dropped (a comma never belongs to a name or a path here)."""
    return [part.strip() for part in text.split(",") if part.strip()]


def entry_points_of(group: str):
    """The installed entry points of `group` (the one place this module asks the environment)."""
    return importlib.metadata.entry_points(group=group)


def _distribution_name(entry_point) -> str | None:
    dist = getattr(entry_point, "dist", None)
    return dist.name if dist is not None else None


def installed(kind: str) -> dict[str, tuple[str, Any]]:
    """Entry-point name -> (distribution name, EntryPoint) for the kind's group (the first one
    where two packages provide the same name; `resolve` refuses such a name)."""
    _check_kind(kind)
    found: dict[str, tuple[str, Any]] = {}
    for entry_point in entry_points_of(ENTRY_POINT_GROUPS[kind]):
        found.setdefault(entry_point.name, (_distribution_name(entry_point) or "?", entry_point))
    return found


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")


def _check_user_name(kind: str, name: Any, label: str) -> str:
    if name is None:
        raise UsageError(f"{kind} {label} has no name: give it one (in Python, pass a mapping "
                         f"{{'my_{kind}': obj}})")
    if not isinstance(name, str) or not name.strip() or name != name.strip():
        raise UsageError(f"{kind} {label}: its name must be a non-empty string without surrounding "
                         f"spaces, got {name!r}")
    if name.startswith("<") or any(char in name for char in ",:\n"):
        raise UsageError(f"{kind} {label} has no usable name ({name!r}): give it one without "
                         f"',' or ':' (in Python, pass a mapping {{'my_{kind}': obj}})")
    return name


def _refuse_builtin_name(kind: str, name: str, label: str, obj: Any, builtins: Mapping[str, Any]) -> None:
    if name in builtins and builtins[name] is not obj:
        raise UsageError(f"{kind} {label} is named '{name}', like the built-in {kind} '{name}': rename "
                         f"it (in Python, pass a mapping {{'my_{name}': obj}}) so that results never "
                         f"confuse the two")


# ---------------------------------------------------------------------------------------------
# resolve


def resolve(kind: str, item: Any, builtins: Mapping[str, Any], *, name: str | None = None) -> Resolved:
    """A name, `PATH.py:NAME`, `package.module:NAME` or an object -> the kind's object, checked.

    `name` (a mapping's key) is what the result is recorded under instead of the spec's NAME or
    the object's own name. Raises UsageError, one line naming the item, on anything wrong.
    """
    _check_kind(kind)
    if isinstance(item, str):
        text = item.strip()
        if not text:
            raise UsageError(f"empty {kind} name")
        if ":" not in text:
            return _resolve_name(kind, text, builtins, name)
        obj, source = _load_spec(kind, text)
        label, own_name = text, text.rpartition(":")[2].rpartition(".")[2]
    else:
        obj, source, label = item, None, _object_label(kind, item, name)
    builtin = _builtin_key(obj, builtins)
    if builtin is not None:
        if name is not None and name != builtin:
            raise UsageError(f"built-in {kind} '{builtin}' cannot be renamed '{name}'")
        return Resolved(builtin, builtins[builtin], None)
    if not _is_kind(kind, obj):
        raise UsageError(f"{label} is {_a(_type_name(obj))}, not {WHAT[kind]}")
    if source is None:
        source, own_name = _object_source(kind, obj), _object_name(kind, obj)
    name = _check_user_name(kind, name if name is not None else own_name, label)
    _refuse_builtin_name(kind, name, label, obj, builtins)
    return _MAKE[kind](obj, name, label, source)


def _is_kind(kind: str, obj: Any) -> bool:
    """Whether `obj` is of the right sort for `kind` at all (what it does is checked after)."""
    if kind == "task":
        from bench.tasks import Task
        return isinstance(obj, Task)
    own = OptimizerSpec if kind == "optimizer" else Strategy
    return isinstance(obj, own) or (callable(obj) and not hasattr(obj, "_fields"))


def _object_label(kind: str, obj: Any, name: str | None) -> str:
    if name is not None:
        return repr(name)
    if isinstance(getattr(obj, "name", None), str) and hasattr(obj, "_fields"):  # a Task
        return repr(obj.name) if _is_kind(kind, obj) else f"{_type_name(obj)} '{obj.name}'"
    if isinstance(obj, (OptimizerSpec, Strategy)):
        parts = _parts(kind, obj)
        return f"{_type_name(obj)} of {_qualified_name(parts[0]) or reprlib.repr(parts[0])}"
    return _qualified_name(obj) or reprlib.repr(obj)


def resolve_many(kind: str, items: Any, builtins: Mapping[str, Any]) -> dict[str, Resolved]:
    """Several at once, in order: a comma string, a list of names, specs or objects, or a
    mapping name -> object or spec. The same item twice is kept once; two different items under
    one name are a UsageError."""
    _check_kind(kind)
    if isinstance(items, str):
        pairs = [(None, text) for text in split_names(items)]
    elif isinstance(items, Mapping):
        pairs = list(items.items())
    elif isinstance(items, (list, tuple)) and not hasattr(items, "_fields"):
        pairs = [(None, item) for item in items]
    else:  # one object (an OptimizerSpec, Strategy or Task is a tuple, but one item)
        pairs = [(None, items)]
    if not pairs:
        flag = {"optimizer": "--optimizers", "init": "--inits", "task": "--task"}[kind]
        raise UsageError(f"{flag} needs at least one name; valid: {', '.join(builtins)}")
    resolved: dict[str, Resolved] = {}
    given: dict[str, Any] = {}
    for name, item in pairs:
        if name is not None and not isinstance(name, str):
            raise UsageError(f"{kind} names must be strings, got {name!r}")
        if name is None and any(_same_item(earlier, item) for earlier in given.values()):
            continue  # "adam,adam": once, as parse_names has always done
        one = resolve(kind, item, builtins, name=name)
        if one.name in resolved:
            raise UsageError(f"two {kind}s are named '{one.name}' ({_describe(given[one.name])} and "
                             f"{_describe(item)}): give them different names")
        resolved[one.name], given[one.name] = one, item
    return resolved


def _same_item(a: Any, b: Any) -> bool:
    return a is b or (isinstance(a, str) and isinstance(b, str) and a.strip() == b.strip())


def _describe(item: Any) -> str:
    return item.strip() if isinstance(item, str) else _qualified_name(item) or f"a {_type_name(item)}"


def _closest(text: str, valid: list[str]) -> str | None:
    """The valid name nearest `text`: difflib's candidates (as config's check_name), the fewest
    edits first, so that a swapped pair of letters ('adma') finds 'adam' before 'adamax'."""
    candidates = difflib.get_close_matches(text, valid, n=5, cutoff=0.5)
    return min(candidates, key=lambda name: (_edits(text, name), candidates.index(name)), default=None)


def _edits(a: str, b: str) -> int:
    """Insertions, deletions, substitutions and swaps of adjacent letters from a to b."""
    previous, row = None, list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        before, previous, row = previous, row, [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            row[j] = min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (a[i - 1] != b[j - 1]))
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                row[j] = min(row[j], before[j - 2] + 1)
    return row[-1]


def _builtin_key(obj: Any, builtins: Mapping[str, Any]) -> str | None:
    return next((key for key, value in builtins.items() if value is obj), None)


def _resolve_name(kind: str, text: str, builtins: Mapping[str, Any], name: str | None) -> Resolved:
    group = ENTRY_POINT_GROUPS[kind]
    providers = [entry_point for entry_point in entry_points_of(group) if entry_point.name == text]
    packages = ", ".join(sorted({f"'{_distribution_name(e) or '?'}'" for e in providers}))
    if text in builtins:
        if providers:
            raise UsageError(f"installed package {packages} provides {kind} '{text}' (entry point group "
                             f"{group}), the name of a built-in {kind}: rename its entry point")
        if name is not None and name != text:
            raise UsageError(f"built-in {kind} '{text}' cannot be renamed '{name}'")
        return Resolved(text, builtins[text], None)
    if not providers:
        valid = list(builtins) + sorted(installed(kind))
        close = _closest(text, valid)
        hint = f"; did you mean '{close}'?" if close else f"; valid: {', '.join(valid)}"
        if text.endswith(".py"):
            hint += f" (a file is given as {text}:NAME)"
        raise UsageError(f"unknown {kind} '{text}'{hint}")
    if len(providers) > 1:
        raise UsageError(f"installed packages {packages} all provide {kind} '{text}' (entry point group "
                         f"{group}): uninstall one, or name the object as package.module:NAME")
    entry_point = providers[0]
    package = _distribution_name(entry_point)
    label = f"'{text}' (entry point {entry_point.value} of package '{package or '?'}')"
    try:
        obj = entry_point.load()
    except Exception as error:
        raise UsageError(f"error loading {kind} {label}: {_one_line(error)}") from None
    builtin = _builtin_key(obj, builtins)
    if builtin is not None:
        return Resolved(builtin, builtins[builtin], None)
    name = _check_user_name(kind, name if name is not None else text, label)
    _refuse_builtin_name(kind, name, label, obj, builtins)
    source = {"spec": text, "entry_point": entry_point.value,
              **_package_source(getattr(entry_point, "dist", None)),
              **_module_file_source(entry_point.value.partition(":")[0].strip(), find_package=False)}
    return _MAKE[kind](obj, name, label, source)


# ---------------------------------------------------------------------------------------------
# Loading PATH.py:NAME and package.module:NAME


def _load_spec(kind: str, text: str) -> tuple[Any, dict]:
    target, _, attribute = text.rpartition(":")
    target = target.strip()
    attribute = attribute.strip()
    if not target or not attribute:
        raise UsageError(f"{kind} '{text}' is neither PATH.py:NAME nor package.module:NAME")
    if target.endswith(".py"):
        module, source = _load_file(kind, text, target)
    else:
        if not all(part.isidentifier() for part in target.split(".")):
            raise UsageError(f"{kind} '{text}': '{target}' is neither a .py file nor a module name "
                             f"(give PATH.py:NAME or package.module:NAME)")
        module, source = _import_module(kind, text, target)
    return _attribute(kind, text, target, module, attribute), source


def _load_file(kind: str, text: str, target: str) -> tuple[Any, dict]:
    path = Path(target).expanduser()
    path = (path if path.is_absolute() else Path.cwd() / path).resolve()
    if not path.is_file():
        raise UsageError(f"{kind} {text}: no such file {path}")
    try:
        code_bytes = path.read_bytes()
    except OSError as error:
        raise UsageError(f"{kind} {text}: cannot read {path}: {error.strerror or error}") from None
    module_name = module_name_for(path)
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    saved_path, previous = list(sys.path), sys.modules.get(module_name)
    # The module is registered (under its unique name) while it runs, as an import would, so
    # that dataclasses and pickling inside it find it; siblings import from its folder.
    sys.modules[module_name] = module
    sys.path.insert(0, str(path.parent))
    try:
        # The bytes hashed are the bytes executed: an edit between the two cannot go unrecorded.
        exec(compile(code_bytes, str(path), "exec"), module.__dict__)
    except (Exception, SystemExit) as error:
        if previous is not None:
            sys.modules[module_name] = previous
        else:
            sys.modules.pop(module_name, None)
        raise UsageError(f"error importing {target}: {_one_line(error)}") from None
    finally:
        sys.path[:] = saved_path
    # ... and after it ran, at the end of the path (never shadowing anything): a factory that
    # imports a sibling inside its body, when it is called, finds it there
    if str(path.parent) not in sys.path:
        sys.path.append(str(path.parent))
    source = {"spec": text, "file": str(path), "sha256": hashlib.sha256(code_bytes).hexdigest()}
    imports = _local_imports(module, path, code_bytes)
    return module, {**source, "imports": imports} if imports else source


def module_name_for(path: Path) -> str:
    """A module name of the file's own: two files named alike in two folders never collide, and
    a user's `adam.py` never takes the plain name `adam`."""
    stem = "".join(char if char.isalnum() or char == "_" else "_" for char in path.stem)
    return f"_initopt_user_{hashlib.sha256(str(path).encode()).hexdigest()[:16]}_{stem}"


def _import_module(kind: str, text: str, target: str) -> tuple[Any, dict]:
    try:
        module = importlib.import_module(target)
    except ModuleNotFoundError as error:
        if error.name is not None and (target == error.name or target.startswith(error.name + ".")):
            raise UsageError(f"{kind} {text}: no module named '{error.name}'") from None
        raise UsageError(f"error importing {target}: {_one_line(error)}") from None
    except (Exception, SystemExit) as error:
        raise UsageError(f"error importing {target}: {_one_line(error)}") from None
    return module, {"spec": text, **_module_file_source(target)}


def _module_file_source(module_name: str, find_package: bool = True) -> dict:
    """The module's file and its sha256, and its package when an installed distribution holds it."""
    module = sys.modules.get(module_name)
    file = getattr(module, "__file__", None)
    if not file:
        return {}
    path = Path(file).resolve()
    source: dict = {"file": str(path), "sha256": _file_sha256(path)}
    dist = _distribution_holding(module_name, path) if find_package else None
    if dist is not None:
        return {**_package_source(dist), **source}
    imports = _local_imports(module, path)
    return {**source, "imports": imports} if imports else source


def _local_imports(module: Any, path: Path, code: bytes | None = None) -> dict[str, str]:
    """Relative path -> sha256 of every module beside (or below) the user's file that it imports,
    and that those import in turn, wherever the import statement stands (a function body too):
    an edit to any of them changes the source. Found from the files alone (their import
    statements, resolved in the file's folder), never from what this process happens to have
    imported, so the owner of a run and its jobs record the same source."""
    folder, found, pending = path.parent, {}, [(path, code)]
    seen = {path}
    while pending:
        current, text = pending.pop()
        for name in _imported_names(current, text, folder):
            for candidate in _module_files(name, folder):
                if candidate in seen or not candidate.is_file():
                    continue
                seen.add(candidate)
                try:
                    found[candidate.relative_to(folder).as_posix()] = _file_sha256(candidate)
                except OSError:
                    continue
                pending.append((candidate, None))
    return dict(sorted(found.items()))


def _imported_names(file: Path, code: bytes | None, folder: Path) -> list[str]:
    """The dotted module names a file's import statements name (relative ones resolved against
    the file's package inside `folder`), and for `from m import x` also `m.x` (x may be a module)."""
    try:
        tree = ast.parse(file.read_bytes() if code is None else code)
    except (OSError, SyntaxError, ValueError):
        return []
    package = list(file.parent.relative_to(folder).parts) if folder in file.parents or file.parent == folder else []
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                up = package[:len(package) - (node.level - 1)] if node.level - 1 <= len(package) else None
                if up is None:
                    continue
                base = ".".join([*up, *([node.module] if node.module else [])])
            else:
                base = node.module or ""
            names += ([base] if base else []) + [f"{base}.{alias.name}".strip(".") for alias in node.names]
    return names


def _module_files(name: str, folder: Path) -> list[Path]:
    """Where module `name` would be found in `folder`: its file or package, and its parents'
    `__init__.py` (importing a.b runs a/__init__.py too)."""
    parts = [part for part in name.split(".") if part]
    files = []
    for end in range(1, len(parts) + 1):
        files.append(folder.joinpath(*parts[:end], "__init__.py"))
    if parts:
        files.append(folder.joinpath(*parts[:-1], parts[-1] + ".py"))
    return [file.resolve() for file in files]


def _distribution_holding(module_name: str, path: Path):
    """The installed distribution whose files include `path` (None for a module that is only on
    sys.path, or an editable install, whose files are its sources)."""
    top = module_name.partition(".")[0]
    try:
        names = importlib.metadata.packages_distributions().get(top, [])
    except Exception:
        return None
    for dist_name in dict.fromkeys(names):
        try:
            dist = importlib.metadata.distribution(dist_name)
        except importlib.metadata.PackageNotFoundError:
            continue
        if any(Path(dist.locate_file(file)).resolve() == path for file in dist.files or ()):
            return dist
    return None


def _package_source(dist) -> dict:
    if dist is None:
        return {}
    return {"package": dist.name, "version": dist.version, "files_sha256": _files_sha256(dist)}


def _files_sha256(dist) -> str:
    """sha256 over the sorted (relative path, sha256) of the distribution's installed .py files."""
    entries = []
    for file in dist.files or ():
        if file.suffix == ".py":
            try:
                digest = _file_sha256(Path(dist.locate_file(file)))
            except OSError:
                digest = "missing"
            entries.append((file.as_posix(), digest))
    total = hashlib.sha256()
    for relative_path, digest in sorted(entries):
        total.update(f"{relative_path}\t{digest}\n".encode())
    return total.hexdigest()


def _file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _attribute(kind: str, text: str, target: str, module: Any, attribute: str) -> Any:
    obj = module
    for part in attribute.split("."):
        if not hasattr(obj, part):
            names = [key for key in vars(module) if not key.startswith("_")]
            close = difflib.get_close_matches(attribute, names, n=1, cutoff=0.6)
            if close:
                hint = f"; did you mean '{close[0]}'?"
            else:
                alike = [key for key in names if _looks_like(kind, getattr(module, key))]
                hint = (f"; its {kind}-like names: {', '.join(alike[:10])}" if alike
                        else f"; it defines nothing that looks like {WHAT[kind]}")
            raise UsageError(f"{kind} {text}: {target} has no '{attribute}'{hint}")
        obj = getattr(obj, part)
    return obj


def _looks_like(kind: str, obj: Any) -> bool:
    if kind == "task":
        from bench.tasks import Task
        return isinstance(obj, Task)
    own = OptimizerSpec if kind == "optimizer" else Strategy
    return isinstance(obj, own) or inspect.isfunction(obj) or isinstance(obj, functools.partial)


# ---------------------------------------------------------------------------------------------
# Objects given in Python: their name and source


def _unwrap(obj: Any) -> Any:
    while isinstance(obj, functools.partial):
        obj = obj.func
    return obj


def _parts(kind: str, obj: Any) -> list:
    """The callables whose code an object is (the first names it)."""
    if isinstance(obj, OptimizerSpec):
        parts = [obj.factory, obj.eval_params]
    elif isinstance(obj, Strategy):
        parts = [obj.kernel_init, obj.bias_init, obj.post_init, obj.lr_multipliers]
    elif kind == "task" and hasattr(obj, "_fields") and hasattr(obj, "make_model"):
        parts = [obj.make_model, obj.load, getattr(obj, "augment", None)]
    else:
        parts = [obj]
    return [_unwrap(part) for part in parts if part is not None] or [obj]


def _object_name(kind: str, obj: Any) -> Any:
    if kind == "task" and isinstance(getattr(obj, "name", None), str) and hasattr(obj, "_fields"):
        return obj.name
    return getattr(_parts(kind, obj)[0], "__name__", None)


def _qualified_name(obj: Any) -> str | None:
    obj = _unwrap(obj)
    qualname = getattr(obj, "__qualname__", None)
    if not isinstance(qualname, str):
        return None
    module = getattr(obj, "__module__", None)
    return f"{module}.{qualname}" if isinstance(module, str) else qualname


def _type_name(obj: Any) -> str:
    return type(obj).__name__


def _source_file(obj: Any) -> str | None:
    """The file an object's code is in (a callable instance's: its class's), or None."""
    for candidate in (obj, type(obj)):
        try:
            file = inspect.getsourcefile(candidate)
        except (TypeError, OSError):
            continue
        return str(Path(file).resolve()) if file and Path(file).is_file() else None
    return None


def _object_source(kind: str, obj: Any) -> dict:
    """{"spec": "<python object>", "file", "sha256"}: the file the object's code is in and its
    sha256 (over each file's sha256 when its parts come from several), or the sha256 of its
    source text when it has no file (None when it has neither)."""
    parts = _parts(kind, obj)
    files = list(dict.fromkeys(file for file in map(_source_file, parts) if file))
    source: dict = {"spec": PYTHON_OBJECT, "object": _qualified_name(parts[0]),
                    "state": _captured_state(obj)}
    if len(files) == 1:
        return {**source, "file": files[0], "sha256": _file_sha256(Path(files[0]))}
    if files:
        digests = {file: _file_sha256(Path(file)) for file in files}
        total = hashlib.sha256("".join(f"{f}\t{d}\n" for f, d in sorted(digests.items())).encode())
        return {**source, "file": files[0], "files": digests, "sha256": total.hexdigest()}
    try:
        text = "".join(inspect.getsource(part) for part in parts)
    except (TypeError, OSError):
        return {**source, "file": None, "sha256": None}
    return {**source, "file": None, "sha256": hashlib.sha256(text.encode()).hexdigest()}


def _captured_state(obj: Any) -> str:
    """What an object given in Python carries besides its code: a functools.partial's arguments,
    a closure's captured values, a callable instance's attributes, as a sha256 of their plain
    form. What cannot be put in plain form makes the state unique to this process, so that a
    program using it is never reused: its numbers could depend on what was not captured."""
    import uuid

    def plain(value, depth=0):
        if depth > 6:
            raise TypeError("nested too deep")
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        if isinstance(value, (list, tuple)):
            return [plain(item, depth + 1) for item in value]
        if isinstance(value, dict):
            return {str(key): plain(item, depth + 1) for key, item in sorted(value.items(), key=str)}
        if isinstance(value, np.ndarray) or hasattr(value, "__array__") and hasattr(value, "dtype"):
            array = np.asarray(value)
            return {"array": hashlib.sha256(array.tobytes()).hexdigest(), "dtype": array.dtype.str,
                    "shape": list(array.shape)}
        if callable(value):
            return {"callable": _qualified_name(value), "state": state_of(value, depth + 1)}
        raise TypeError(type(value).__name__)

    def state_of(value, depth=0):
        if isinstance(value, functools.partial):
            return {"func": plain(value.func, depth + 1), "args": plain(value.args, depth + 1),
                    "keywords": plain(value.keywords, depth + 1)}
        cells = getattr(value, "__closure__", None) or ()
        if cells:
            return [plain(cell.cell_contents, depth + 1) for cell in cells]
        if not inspect.isroutine(value) and not inspect.isclass(value) and hasattr(value, "__dict__"):
            return plain(vars(value), depth + 1)
        return None

    try:
        state = state_of(obj)
    except (TypeError, ValueError):
        return f"not captured: {uuid.uuid4().hex}"
    return hashlib.sha256(json.dumps(state, sort_keys=True, default=str).encode()).hexdigest()


def _docstring_line(obj: Any, default: str) -> str:
    doc = inspect.getdoc(_unwrap(obj))
    return doc.strip().splitlines()[0] if isinstance(doc, str) and doc.strip() else default


def _one_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    text = f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__
    return text if len(text) <= 300 else text[:297] + "..."


def _a(name: str) -> str:
    return f"an {name}" if name[:1].lower() in "aeiou" else f"a {name}"


# ---------------------------------------------------------------------------------------------
# Optimizers


def _make_optimizer(obj: Any, name: str, label: str, source: dict) -> Resolved:
    if isinstance(obj, OptimizerSpec):
        spec = obj
        if not callable(spec.factory):
            raise UsageError(f"optimizer {label}: its factory is {_a(_type_name(spec.factory))}, not a callable")
        if not isinstance(spec.hyperparams, Mapping):
            raise UsageError(f"optimizer {label}: hyperparams must be a mapping, got {_type_name(spec.hyperparams)}")
        _check_learning_rates(label, spec.learning_rates)
        _check_search_space(label, spec.search_space)
    else:
        learning_rates = getattr(obj, "learning_rates", DEFAULT_LEARNING_RATES)
        search_space = getattr(obj, "search_space", None)
        if search_space is None:
            search_space = {"learning_rate": SearchDimension("learning_rate", "log", *DEFAULT_LEARNING_RATE_RANGE)}
        spec = OptimizerSpec(
            factory=obj, optax_reference=None, hyperparams={},
            learning_rates=_check_learning_rates(label, learning_rates),
            description=_docstring_line(obj, label), paper=f"user-provided ({label})",
            search_space=_check_search_space(label, search_space))
    _check_optimizer_runs(spec, label)
    if not _takes_schedule(spec):
        spec = spec._replace(takes_schedule=False)
    return Resolved(name, spec, source, _traceable(spec, label))


def _takes_schedule(spec: OptimizerSpec) -> bool:
    """Whether the factory takes a schedule (a function of the step count) as its learning
    rate, as optax's do (`ScalarOrSchedule`). One that does not is scheduled from outside when
    a run decays its rate (`bench.runner.make_optimizer`)."""
    params, grads = _check_params()
    try:
        transformation = spec.factory(learning_rate=lambda count: CHECK_LEARNING_RATE, **spec.hyperparams)
        updates = transformation.update(grads, transformation.init(params), params)[0]
        return all(jnp.all(jnp.isfinite(leaf)) for leaf in jax.tree_util.tree_leaves(updates))
    except Exception:
        return False


def _check_learning_rates(label: str, rates: Any) -> tuple[float, ...]:
    try:
        rates = tuple(float(rate) for rate in rates)
    except (TypeError, ValueError):
        raise UsageError(f"optimizer {label}: learning_rates must be a sequence of numbers, got {rates!r}") from None
    if not rates or not all(0 < rate < math.inf for rate in rates):
        raise UsageError(f"optimizer {label}: learning_rates must be positive and finite numbers, got {rates}")
    return rates


def _check_search_space(label: str, space: Any) -> dict[str, SearchDimension]:
    if not isinstance(space, Mapping):
        raise UsageError(f"optimizer {label}: search_space must be a mapping name -> SearchDimension, "
                         f"got {_type_name(space)}")
    checked = {}
    for key, dimension in space.items():
        try:
            dimension = SearchDimension(*dimension)
            low, high = float(dimension.low), float(dimension.high)
        except (TypeError, ValueError):
            raise UsageError(f"optimizer {label}: search_space['{key}'] must be a SearchDimension(argument, "
                             f"scale, low, high), got {dimension!r}") from None
        if dimension.scale not in SCALES:
            raise UsageError(f"optimizer {label}: search_space['{key}'] has scale {dimension.scale!r}; "
                             f"valid: {', '.join(SCALES)}")
        positive = dimension.scale == "linear" or low > 0
        below_one = dimension.scale != "one_minus_log" or high < 1
        if not (math.isfinite(low) and math.isfinite(high) and low < high and positive and below_one):
            raise UsageError(f"optimizer {label}: search_space['{key}'] bounds {low}..{high} do not fit "
                             f"scale '{dimension.scale}'")
        checked[key] = dimension
    return checked


def _check_params() -> tuple[dict, dict]:
    params = {"w": jnp.ones((3, 2), jnp.float32), "b": jnp.zeros(2, jnp.float32)}
    grads = {"w": jnp.full((3, 2), 0.5, jnp.float32), "b": jnp.full(2, -0.25, jnp.float32)}
    return params, grads


def _check_optimizer_runs(spec: OptimizerSpec, label: str) -> None:
    """Build it at learning_rate 1e-3, then init and one update on a tiny parameter tree."""
    params, grads = _check_params()
    call = f"calling it with learning_rate={CHECK_LEARNING_RATE}"
    try:
        transformation = spec.factory(learning_rate=CHECK_LEARNING_RATE, **spec.hyperparams)
    except Exception as error:
        raise UsageError(f"optimizer {label}: {call} raised {_one_line(error)}") from None
    if not (callable(getattr(transformation, "init", None)) and callable(getattr(transformation, "update", None))):
        raise UsageError(f"optimizer {label} returned {_type_name(transformation)}, not an "
                         f"optax.GradientTransformation")
    try:
        state = transformation.init(params)
    except Exception as error:
        raise UsageError(f"optimizer {label}: init(params) raised {_one_line(error)}") from None
    try:
        out = transformation.update(grads, state, params)
    except Exception as error:
        raise UsageError(f"optimizer {label}: update(grads, state, params) raised {_one_line(error)}") from None
    if not (isinstance(out, tuple) and len(out) == 2):
        raise UsageError(f"optimizer {label}: update must return (updates, state), got {_type_name(out)}")
    updates = out[0]
    expected, got = jax.tree_util.tree_structure(params), jax.tree_util.tree_structure(updates)
    if got != expected:
        raise UsageError(f"optimizer {label}: update returned updates shaped like {got}, not like the "
                         f"params {expected}")
    for key in params:
        want, have = params[key], updates[key]
        if getattr(have, "shape", None) != want.shape or getattr(have, "dtype", None) != want.dtype:
            raise UsageError(f"optimizer {label}: update of a {want.dtype}{list(want.shape)} parameter is "
                             f"{getattr(have, 'dtype', _type_name(have))}{list(getattr(have, 'shape', ()))}")


def _traced_arguments(spec: OptimizerSpec) -> dict[str, Any]:
    """The hyperparameters a run may trace (beyond the learning rate): the numeric ones with a
    number for a default or in `hyperparams`, and those the search space varies."""
    try:
        numeric = numeric_arguments(spec.factory)
        parameters = inspect.signature(spec.factory).parameters
    except (TypeError, ValueError):  # no signature to read (a C function): trace the rate alone
        return {}
    traced = {}
    for argument in numeric:
        value = spec.hyperparams.get(argument, parameters[argument].default)
        if isinstance(value, numbers.Real) and not isinstance(value, bool):
            traced[argument] = jnp.asarray(value)
        elif isinstance(value, tuple) and value and all(isinstance(x, numbers.Real) for x in value):
            traced[argument] = tuple(jnp.asarray(x) for x in value)
    for dimension in spec.search_space.values():
        if dimension.argument != "learning_rate" and dimension.argument not in traced:
            traced[dimension.argument] = jnp.asarray(spec.hyperparams.get(dimension.argument, dimension.low),
                                                     jnp.float32)
    traced.pop("learning_rate", None)
    return traced


def _traceable(spec: OptimizerSpec, label: str) -> bool:
    """Whether the factory builds from a traced learning rate (and traced numeric
    hyperparameters), as the runner's one program per optimizer needs."""
    params, grads = _check_params()
    fixed = {key: value for key, value in spec.hyperparams.items()}

    def step(learning_rate, traced):
        transformation = spec.factory(learning_rate=learning_rate, **{**fixed, **traced})
        return transformation.update(grads, transformation.init(params), params)[0]

    try:
        jax.eval_shape(step, jnp.asarray(CHECK_LEARNING_RATE, jnp.float32), _traced_arguments(spec))
    except TRACER_ERRORS:
        return False
    except TypeError as error:
        if "tracer" in str(error).lower():
            return False
        raise UsageError(f"optimizer {label}: with traced hyperparameters it raised {_one_line(error)}") from None
    except Exception as error:
        raise UsageError(f"optimizer {label}: with traced hyperparameters it raised {_one_line(error)}") from None
    return True


# ---------------------------------------------------------------------------------------------
# Inits


def _make_init(obj: Any, name: str, label: str, source: dict) -> Resolved:
    if isinstance(obj, Strategy):
        _check_initializer(obj.kernel_init, f"{label} (kernel_init)")
        _check_initializer(obj.bias_init, f"{label} (bias_init)", shapes=((4,),))
        for field in ("post_init", "lr_multipliers"):
            if getattr(obj, field) is not None and not callable(getattr(obj, field)):
                raise UsageError(f"init {label}: {field} is {_a(_type_name(getattr(obj, field)))}, not a callable")
        return Resolved(name, obj, source)
    initializer = _initializer(obj, label)
    strategy = Strategy(kernel_init=initializer, bias_init=jax.nn.initializers.zeros,
                        description=_docstring_line(obj, label), reference=f"user-provided ({label})")
    return Resolved(name, strategy, source)


def _initializer(obj: Callable, label: str) -> Callable:
    """`obj` if it is an initializer, else `obj()` if that is one (`he_normal` and `he_normal()`)."""
    shape = INIT_SHAPES[0]
    try:
        out = obj(jax.random.key(0), shape, jnp.float32)
        failure = None
    except TypeError as error:
        out, failure = None, error
    except Exception as error:
        raise UsageError(f"init {label}: calling it with (key, {shape}, float32) raised {_one_line(error)}") from None
    if failure is not None or (callable(out) and not hasattr(out, "shape")):
        try:
            made = obj()
        except Exception:
            made = None
        if callable(made):
            _check_initializer(made, label)
            return made
        if failure is not None:
            raise UsageError(f"init {label}: calling it with (key, {shape}, float32) raised "
                             f"{_one_line(failure)}") from None
    _check_initializer(obj, label)
    return obj


def _check_initializer(initializer: Any, label: str, shapes: tuple = INIT_SHAPES) -> None:
    if not callable(initializer):
        raise UsageError(f"init {label} is {_a(_type_name(initializer))}, not an initializer "
                         f"(key, shape, dtype) -> array")
    for shape in shapes:
        call = f"(key, {shape}, float32)"
        try:
            out = initializer(jax.random.key(0), shape, jnp.float32)
        except Exception as error:
            raise UsageError(f"init {label}: calling it with {call} raised {_one_line(error)}") from None
        if not (hasattr(out, "shape") and hasattr(out, "dtype")):
            raise UsageError(f"init {label} returned {_type_name(out)} for {call}, not an array")
        if tuple(out.shape) != shape:
            raise UsageError(f"init {label} returned shape {tuple(out.shape)} for {call}")
        if out.dtype != jnp.float32:
            raise UsageError(f"init {label} returned dtype {out.dtype} for {call}")
        # The runner initializes every seed in one traced program: the init must trace.
        try:
            jax.eval_shape(jax.vmap(lambda key: initializer(key, shape, jnp.float32)),
                           jax.random.split(jax.random.key(0), 2))
        except Exception as error:
            raise UsageError(f"init {label}: it cannot be traced under jax.vmap (the runner initializes "
                             f"all seeds in one program): {_one_line(error)}") from None


# ---------------------------------------------------------------------------------------------
# Tasks


def _make_task(obj: Any, name: str, label: str, source: dict) -> Resolved:
    _check_task_fields(obj, label)
    dataset = _check_task_data(obj, label)
    _check_task_model(obj, dataset, label)
    # the data are part of the task: a file its load() reads can change with no code changing
    source = {**source, "data_sha256": _dataset_sha256(dataset)}
    return Resolved(name, obj if obj.name == name else obj._replace(name=name), source)


def _dataset_sha256(dataset: Any) -> str:
    """sha256 over a Dataset's arrays (dtype, shape and bytes of each) and its class count."""
    digest = hashlib.sha256()
    for field in dataset._fields:
        value = getattr(dataset, field)
        if field == "num_classes":
            digest.update(f"num_classes={int(value)}".encode())
            continue
        array = np.ascontiguousarray(np.asarray(value))
        digest.update(f"{field}:{array.dtype.str}:{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def _positive_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value > 0


def _check_task_fields(task: Any, label: str) -> None:
    for field in ("load", "make_model"):
        if not callable(getattr(task, field)):
            raise UsageError(f"task {label}: {field} is {_a(_type_name(getattr(task, field)))}, not a callable")
    for field in ("batch_size", "steps"):
        if not _positive_int(getattr(task, field)):
            raise UsageError(f"task {label}: {field} must be a positive integer, got {getattr(task, field)!r}")
    for field in ("eval_batch_size", "eval_every"):
        value = getattr(task, field)
        if value is not None and not _positive_int(value):
            raise UsageError(f"task {label}: {field} must be a positive integer or None, got {value!r}")
    target = task.target
    if not (isinstance(target, numbers.Real) and not isinstance(target, bool) and 0 < target <= 1):
        raise UsageError(f"task {label}: target (a validation accuracy) must be in (0, 1], got {target!r}")
    published = task.published_accuracy
    if published is not None and not (isinstance(published, numbers.Real) and 0 <= published <= 1):
        raise UsageError(f"task {label}: published_accuracy must be in [0, 1] or None, got {published!r}")
    if task.augment is not None and not callable(task.augment):
        raise UsageError(f"task {label}: augment is {_a(_type_name(task.augment))}, not a callable or None")


def _check_task_data(task: Any, label: str):
    from bench.data import Dataset

    try:
        dataset = task.load()
    except Exception as error:
        raise UsageError(f"task {label}: load() raised {_one_line(error)}") from None
    if not isinstance(dataset, Dataset):
        raise UsageError(f"task {label}: load() returned {_type_name(dataset)}, not a bench.data.Dataset")
    num_classes = dataset.num_classes
    if not (isinstance(num_classes, numbers.Integral) and not isinstance(num_classes, bool) and num_classes >= 2):
        raise UsageError(f"task {label}: num_classes must be an integer >= 2, got {num_classes!r}")
    feature_shape = None
    for split in ("train", "val", "test"):
        x, y = getattr(dataset, f"x_{split}"), getattr(dataset, f"y_{split}")
        if not (hasattr(x, "shape") and hasattr(x, "dtype") and hasattr(y, "shape") and hasattr(y, "dtype")):
            raise UsageError(f"task {label}: x_{split} and y_{split} must be arrays, got "
                             f"{_type_name(x)} and {_type_name(y)}")
        x, y = np.asarray(x), np.asarray(y)
        if x.ndim < 1 or len(x) == 0:
            raise UsageError(f"task {label}: the {split} split is empty")
        if y.ndim != 1 or len(x) != len(y):
            raise UsageError(f"task {label}: the {split} split has {len(x)} inputs but labels of shape "
                             f"{y.shape} (one integer label per input)")
        if feature_shape is None:
            feature_shape = x.shape[1:]
        elif x.shape[1:] != feature_shape:
            raise UsageError(f"task {label}: x_{split} has inputs of shape {x.shape[1:]}, x_train of "
                             f"{feature_shape}")
        if not (np.issubdtype(x.dtype, np.number) or x.dtype == np.bool_):
            raise UsageError(f"task {label}: x_{split} has dtype {x.dtype}, not a number")
        if np.issubdtype(x.dtype, np.inexact) and not np.isfinite(x).all():
            raise UsageError(f"task {label}: x_{split} holds {int(np.size(x) - np.isfinite(x).sum())} "
                             f"non-finite values (NaN or inf)")
        if not np.issubdtype(y.dtype, np.integer):
            raise UsageError(f"task {label}: y_{split} has dtype {y.dtype}; labels must be integers")
        low, high = int(y.min()), int(y.max())
        if low < 0 or high >= num_classes:
            raise UsageError(f"task {label}: y_{split} holds labels from {low} to {high}, outside "
                             f"[0, {num_classes}) (num_classes={num_classes})")
    if task.batch_size > len(dataset.x_train):
        raise UsageError(f"task {label}: batch_size {task.batch_size} is larger than the training set "
                         f"({len(dataset.x_train)} examples)")
    return dataset


def _check_task_model(task: Any, dataset: Any, label: str) -> None:
    import flax.linen as nn

    zeros = jax.nn.initializers.zeros
    try:
        model = task.make_model(zeros, zeros)
    except Exception as error:
        raise UsageError(f"task {label}: make_model(kernel_init, bias_init) raised {_one_line(error)}") from None
    if not isinstance(model, nn.Module):
        raise UsageError(f"task {label}: make_model returned {_type_name(model)}, not a flax.linen.Module")
    x_train = np.asarray(dataset.x_train)
    x = jax.ShapeDtypeStruct((2,) + x_train.shape[1:], x_train.dtype)
    try:
        variables = jax.eval_shape(model.init, jax.random.key(0), x)
    except Exception as error:
        raise UsageError(f"task {label}: its model's init on 2 training inputs raised {_one_line(error)}") from None
    if not isinstance(variables, Mapping) or "params" not in variables:
        raise UsageError(f"task {label}: its model has no parameters (model.init returned no 'params')")
    model_state = {key: value for key, value in variables.items() if key != "params"}

    def logits(variables, x, train):
        # as the runner applies it: a model with state (BatchNorm) takes `train`
        if not model_state:
            return model.apply(variables, x)
        if train:
            return model.apply(variables, x, train=True, mutable=list(model_state))[0]
        return model.apply(variables, x, train=False)

    for train in (True, False):
        try:
            out = jax.eval_shape(functools.partial(logits, train=train), variables, x)
        except Exception as error:
            raise UsageError(f"task {label}: applying its model to 2 training inputs raised "
                             f"{_one_line(error)}") from None
        if getattr(out, "shape", None) != (2, dataset.num_classes):
            raise UsageError(f"task {label}: its model maps 2 inputs to {getattr(out, 'shape', _type_name(out))}, "
                             f"not (2, num_classes={dataset.num_classes}) logits")
    if task.augment is not None:
        try:
            augmented = jax.eval_shape(task.augment, jax.random.key(0), x)
        except Exception as error:
            raise UsageError(f"task {label}: augment(key, batch) raised {_one_line(error)}") from None
        if getattr(augmented, "shape", None) != x.shape:
            raise UsageError(f"task {label}: augment maps a batch of shape {x.shape} to "
                             f"{getattr(augmented, 'shape', _type_name(augmented))}")


_MAKE = {"optimizer": _make_optimizer, "init": _make_init, "task": _make_task}
