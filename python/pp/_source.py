"""Turning a submitted function and its dependencies into shippable source.

A worker rebuilds a job's namespace from source text, never from pickled code
objects, so a job runs on any Python the node has. What ships for one
``(func, depfuncs, modules)`` combination is computed once and cached; the
key that identifies it to the Go core is derived from the content, so equal
source shares a key and changed source gets a new one.
"""

from __future__ import annotations

import ast
import io
import pickle
import sys
import textwrap
import threading
import types
from typing import Any, Iterable, NamedTuple

# Types whose instances never need a class shipped: checked first, it keeps
# the per-submit scan of arguments cheap. Atomic ones hold no other objects,
# so arguments of only those need no search for the script's classes.
ATOMIC_TYPES = frozenset({
    int, float, complex, str, bytes, bytearray, bool, type(None), range, slice, memoryview,
})
PLAIN_TYPES = ATOMIC_TYPES | {tuple, list, dict, set, frozenset}

# Cached shipments per server before the cache starts over, so functions made
# in a loop cannot grow it without bound.
MAX_CACHED_CALLS = 4096


class Shipment(NamedTuple):
    """What the Go core is handed for a function: its key and source blob."""

    key: int
    blob: bytes


class Source(NamedTuple):
    """One piece of source as the worker executes it."""

    text: str
    filename: str
    lineno: int
    required: bool  # False: a failure to define it is ignored in the worker


def is_builtin_module(name: str | None) -> bool:
    return name in ("builtins", "__builtin__") or name in sys.builtin_module_names


def is_not_imported(obj: Any, modules: Iterable[str]) -> bool:
    """True when obj's module is not among ``modules``, so its source ships."""
    module = getattr(obj, "__module__", None)
    if module is None or module == "__main__":
        return True
    if is_builtin_module(module):
        return False
    for entry in modules:
        if module == entry or module.startswith(entry + "."):
            return False
    return True


def is_pp(obj: Any) -> bool:
    module = getattr(obj, "__module__", None) or ""
    return module == "pp" or module.startswith("pp.")


def class_hierarchy(cls: type) -> list[type]:
    """cls and its bases, bases first, without ``object`` and builtins."""
    return [c for c in reversed(cls.__mro__)
            if c is not object and not is_builtin_module(getattr(c, "__module__", None))]


def describe(obj: Any) -> str:
    name = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None)
    return repr(name) if name else repr(obj)


def import_and_bind(obj: Any) -> tuple[str, str | None]:
    """Source text binding a callable that has no source (``math.sqrt``,
    ``str.upper``) to its name, and the module the worker must import."""
    owner = getattr(obj, "__objclass__", None)
    name: str | None = getattr(obj, "__name__", None)
    path: str | None
    if owner is not None:
        module = getattr(owner, "__module__", None)
        path = "%s.%s" % (owner.__qualname__, name)
    else:
        module = getattr(obj, "__module__", None)
        path = getattr(obj, "__qualname__", None) or name
    if not name or not path or "<" in path or module in (None, "__main__"):
        raise ValueError(
            "cannot ship function %s: it has no source code and cannot be "
            "imported by name in a worker" % describe(obj))
    if module in ("builtins", "__builtin__"):
        return "%s = %s\n" % (name, path), None
    return "import %s\n%s = %s.%s\n" % (module, name, module, path), module


def has_source(obj: Any) -> bool:
    return isinstance(obj, (types.FunctionType, type)) and not (
        isinstance(obj, type) and is_builtin_module(obj.__module__))


def source_of(obj: Any, required: bool) -> tuple[Source, str]:
    """The source of a function or class and the name it defines."""
    import inspect  # costly to import; only needed when the cache misses

    try:
        lines, lineno = inspect.getsourcelines(obj)
        filename = inspect.getsourcefile(obj) or inspect.getfile(obj)
    except (OSError, TypeError):
        raise ValueError(
            "cannot ship function %s: its source code is not available (it was "
            "defined in an interactive session, by exec, or under 'python -c'); "
            "define it in a .py file" % describe(obj)) from None
    text = textwrap.dedent("".join(lines))
    name = obj.__name__
    if name == "<lambda>":
        name = lambda_name(text, obj)
    return Source(text, filename, max(lineno, 1), required), name


def lambda_name(text: str, func: Any) -> str:
    """The variable a lambda was assigned to (``f = lambda x: ...``)."""
    try:
        tree = ast.parse(text)
    except SyntaxError:
        tree = None
    if tree is not None and len(tree.body) == 1:
        stmt = tree.body[0]
        if (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1
                and isinstance(stmt.targets[0], ast.Name)
                and isinstance(stmt.value, ast.Lambda)):
            return stmt.targets[0].id
    raise ValueError(
        "cannot ship function %s: an inline lambda has no name to call it by "
        "in a worker; assign it first (f = lambda ...) and submit f" % describe(func))


class Shipper:
    """Builds and caches the shipments of one server."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_call: dict[tuple, Shipment] = {}
        self._by_blob: dict[bytes, int] = {}

    def prepare(self, func: Any, args: tuple, depfuncs: tuple, modules: tuple,
                globals: dict | None, proto: int) -> tuple[Shipment, bytes]:
        """What ships for one ``submit(func, args, depfuncs, modules,
        globals=...)``: the function's shipment and the pickled arguments.

        Beyond what the caller lists, it ships (as pp does): for a bound
        method, its class hierarchy, with the instance as the first
        argument; the classes of arguments that are instances of classes
        not importable from ``modules``, and functions passed as arguments;
        with ``globals``, the modules and functions found in that dict; and,
        beyond pp, the script's classes and functions that the arguments
        refer to deeper inside (instances in a list, say).
        """
        auto: tuple = ()
        if globals:
            modules = tuple(dict.fromkeys(modules + tuple(find_modules(globals))))
            auto = tuple(globals_dependencies(globals, modules))
        call_name = None
        if isinstance(func, types.MethodType):
            owner = func.__self__
            cls = owner if isinstance(owner, type) else type(owner)
            if not isinstance(owner, type):
                args = (owner,) + args  # legacy pp: the instance becomes the first argument
            auto += tuple(class_hierarchy(cls))
            func = func.__func__
            if "<locals>" not in cls.__qualname__:
                call_name = "%s.%s" % (cls.__qualname__, func.__name__)
        deep = False  # an argument may hold other objects
        for arg in args:
            cls = type(arg)
            if cls in ATOMIC_TYPES:
                continue
            deep = True
            if cls in PLAIN_TYPES:
                continue
            if isinstance(arg, types.FunctionType):
                auto += (arg,)
            elif is_not_imported(cls, modules) and not is_pp(cls):
                auto += tuple(class_hierarchy(cls))
        if deep:
            sargs, found = dumps_finding_main(args, proto)
            auto += tuple(found)
        else:
            sargs = pickle.dumps(args, proto)
        return self.ship(func, depfuncs, auto, modules, call_name), sargs

    def ship(self, func: Any, depfuncs: tuple, auto: tuple, modules: tuple,
             call_name: str | None = None) -> Shipment:
        """The shipment for func with its explicit and automatic dependencies.

        ``call_name`` overrides the dotted name the worker calls (a method
        called through its class).
        """
        call: tuple | None = (func, depfuncs, auto, modules, call_name)
        try:
            cached = self._by_call.get(call)  # type: ignore[arg-type]
        except TypeError:  # an unhashable dependency: build every time
            cached, call = None, None
        if cached is not None:
            return cached
        shipment = self._keyed(self._build(func, depfuncs, auto, modules, call_name))
        if call is not None:
            with self._lock:
                if len(self._by_call) >= MAX_CACHED_CALLS:
                    self._by_call.clear()
                self._by_call[call] = shipment
        return shipment

    def ship_sources(self, name: str, texts: Iterable[str], modules: Iterable[str]) -> Shipment:
        """The shipment for source text someone else extracted: legacy pp's
        serialized ``(name, sources, modules)``, as Server.insert() gets it."""
        sources = [(text, "<pp insert>", 1, True) for text in texts]
        return self._keyed(pickle.dumps((name, sources, tuple(modules)), protocol=4))

    def _keyed(self, blob: bytes) -> Shipment:
        """The shipment of blob, keyed by its content."""
        with self._lock:
            return Shipment(self._by_blob.setdefault(blob, len(self._by_blob) + 1), blob)

    def _build(self, func: Any, depfuncs: tuple, auto: tuple, modules: tuple,
               call_name: str | None) -> bytes:
        imports = list(modules)
        sources: list[Source] = []
        seen: set[int] = set()

        def add(obj: Any, required: bool) -> str | None:
            if id(obj) in seen:
                return None
            seen.add(id(obj))
            if has_source(obj):
                source, name = source_of(obj, required)
                sources.append(source)
                return name
            if not required and isinstance(obj, type):
                return None  # a C type of an importable module: pickle finds it
            text, module = import_and_bind(obj)
            if module and module not in imports:
                imports.append(module)
            sources.append(Source(text, "<pp import of %s>" % describe(obj), 1, required))
            return obj.__name__

        def add_optional(dep: Any) -> None:
            try:
                add(dep, required=False)
            except ValueError:
                pass  # found implicitly; pickle may still find it by import

        if not callable(func):
            raise TypeError("func must be callable, not %s" % type(func).__name__)
        for dep in auto:
            add_optional(dep)
        for dep in depfuncs:
            if not callable(dep):
                raise TypeError("depfuncs entries must be functions or classes, not %r" % (dep,))
            add(dep, required=True)
            if isinstance(dep, type):
                # A class needs its bases: those not imported ship with it.
                for base in class_hierarchy(dep)[:-1]:
                    if is_not_imported(base, modules) and not is_pp(base):
                        add_optional(base)
        name = add(func, required=True) if call_name is None else call_name
        if name is None:  # func also listed among its dependencies
            name = func.__name__
        # Plain tuples, not Source: a node's worker unpickles the blob
        # without the pp package.
        plain = [tuple(source) for source in sources]
        return pickle.dumps((name, plain, tuple(imports)), protocol=4)


class _MainObjectFinder(pickle.Pickler):
    """Pickles, noting the classes and functions of __main__ that the
    pickle refers to by name (instances' classes included)."""

    def __init__(self, file: io.BytesIO, proto: int) -> None:
        super().__init__(file, proto)
        self.found: dict[int, Any] = {}

    def reducer_override(self, obj: Any) -> Any:
        # An instance's __module__ is its class's.
        if getattr(obj, "__module__", None) == "__main__":
            found = obj if isinstance(obj, (type, types.FunctionType)) else type(obj)
            self.found.setdefault(id(found), found)
        return NotImplemented


def dumps_finding_main(args: tuple, proto: int) -> tuple[bytes, list[Any]]:
    """Pickles args and returns the classes (bases first) and functions of
    the user's script they refer to anywhere inside (instances in a list, a
    function in a dict...): the worker only finds those if their source
    ships. One pass, but slower than pickle.dumps for small arguments, so
    callers use it only when an argument can hold other objects."""
    buffer = io.BytesIO()
    finder = _MainObjectFinder(buffer, proto)
    finder.dump(args)
    found: list[Any] = []
    for obj in finder.found.values():
        found.extend(class_hierarchy(obj) if isinstance(obj, type) else [obj])
    return buffer.getvalue(), found


def find_modules(namespace: dict, prefix: str = "", visited: set | None = None) -> list[str]:
    """Modules referenced from a globals() dict, recursively, except pp."""
    visited = set() if visited is None else visited
    if id(namespace) in visited:
        return []
    visited.add(id(namespace))
    found = []
    for name, obj in list(namespace.items()):
        if isinstance(obj, types.ModuleType) and name not in ("__builtins__", "pp"):
            if prefix == "" or obj.__name__ == prefix + name:
                found.append(obj.__name__)
                found.extend(find_modules(obj.__dict__, obj.__name__ + ".", visited))
    return found


def globals_dependencies(namespace: dict, modules: tuple) -> list[Any]:
    """Functions and classes of a globals() dict that must ship as source."""
    deps = []
    for obj in list(namespace.values()):
        if isinstance(obj, (types.FunctionType, type)) and has_source(obj) \
                and is_not_imported(obj, modules) and not is_pp(obj):
            deps.append(obj)
    return deps
