"""Turning a submitted function and its dependencies into shippable source.

A worker rebuilds a job's namespace from source text, never from pickled code
objects, so a job runs on any Python the node has. What ships for one
``(func, depfuncs, modules)`` combination is computed once and cached; the
key that identifies it to the Go core is derived from the content, so equal
source shares a key and changed source gets a new one.
"""

from __future__ import annotations

import io
import pickle
import sys
import textwrap
import threading
import types
from typing import Any, Callable, Iterable, NamedTuple

from pp import worker
from pp.worker import OUT_OF_BAND_PROTOCOL

# Types whose instances never need a class shipped: checked first, it keeps
# the per-submit scan of arguments cheap. Atomic ones hold no other objects,
# so arguments of only those need no search for the script's classes.
ATOMIC_TYPES = frozenset({
    int, float, complex, str, bytes, bytearray, bool, type(None), range, slice, memoryview,
})
PLAIN_TYPES = ATOMIC_TYPES | {tuple, list, dict, set, frozenset}

# How a job's pickled arguments call its function; pp.worker (which imports
# nothing of pp) has the same names, checked by a test.
CALL_ARGS = "args"      # a tuple: func(*args), legacy pp's way
CALL_KWARGS = "kwargs"  # (args, kwargs): func(*args, **kwargs)
CALL_CHUNK = "chunk"    # a tuple of argument columns: list(map(func, *columns))

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
    found = function_source(obj)
    if found is not None:
        text, filename, lineno = found
    else:
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


def function_source(func: Any) -> tuple[str, str, int] | None:
    """A named function's source, file and first line, found from the lines
    its code object spans: what inspect.getsourcelines finds, without the
    tokenizer, whose patterns take milliseconds to compile on first use, on
    the way to the first result. None where the code cannot tell (Python
    before 3.11, no debug ranges, a lambda, a wrapper, no file) or the lines
    found do not compile on their own: inspect is asked then."""
    if (not isinstance(func, types.FunctionType) or func.__name__ == "<lambda>"
            or hasattr(func, "__wrapped__")):  # inspect unwraps decorators' wrappers
        return None
    code = func.__code__
    if not hasattr(code, "co_positions"):
        return None
    import linecache

    linecache.checkcache(code.co_filename)  # as inspect does: the file may have changed
    lines = linecache.getlines(code.co_filename, func.__globals__)
    first, last = code.co_firstlineno, last_line(code)
    if not lines or not 1 <= first <= last <= len(lines):
        return None
    text = textwrap.dedent("".join(lines[first - 1:last]))
    try:
        # What the code's positions cannot see (a docstring alone, a string
        # that spans lines, no end positions) leaves lines that do not parse.
        compile(text, code.co_filename, "exec", dont_inherit=True)
    except (SyntaxError, ValueError):
        return None
    return text, code.co_filename, first


def last_line(code: types.CodeType) -> int:
    """The last line any instruction of code, or of code nested in it,
    spans (0 when none says)."""
    last = 0
    for line, end, _column, _end_column in code.co_positions():
        last = max(last, end or line or 0)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            last = max(last, last_line(const))
    return last


def lambda_name(text: str, func: Any) -> str:
    """The variable a lambda was assigned to (``f = lambda x: ...``)."""
    import ast  # only for lambdas

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
        self._globals_of: dict[Any, Referenced] = {}
        self._by_blob: dict[bytes, int] = {}

    def prepare(self, func: Any, args: Any, depfuncs: tuple, modules: tuple,
                globals: dict | None, proto: int, call: str = CALL_ARGS,
                by_value: dict | None = None,
                follow_globals: bool = False) -> tuple[Shipment, bytes, list[memoryview]]:
        """What ships for one ``submit(func, args, depfuncs, modules,
        globals=...)``: the function's shipment, the pickled arguments and
        their large buffers, left out of band (pp.worker.dumps).

        ``call`` says what ``args`` is (pp.worker's CALL_*): an argument
        tuple (legacy pp), ``(args, kwargs)``, or a list of argument tuples
        (a chunk of a map).

        Beyond what the caller lists, it ships (as pp does): for a bound
        method, its class hierarchy, with the instance as the first
        argument; the classes of arguments that are instances of classes
        not importable from ``modules``, and functions passed as arguments;
        with ``globals``, the modules and functions found in that dict; and,
        beyond pp, the script's classes and functions that the arguments
        refer to deeper inside (instances in a list, say), and, with
        cloudpickle, a function that has no source, by value (pickled anew
        each time, as its closure may have changed, unless the caller keeps
        a ``by_value`` dict across calls, as a map does). With
        ``follow_globals`` (the Executor), also what the function uses from
        its module's globals, as a ProcessPoolExecutor job finds it: the
        functions and classes (as source), modules (imported), and other
        values (pickled, as they are the first time the function ships).
        """
        auto: tuple = ()
        values: dict = {}
        if globals:
            modules = tuple(dict.fromkeys(modules + tuple(find_modules(globals))))
            auto = tuple(globals_dependencies(globals, modules))
        plain = getattr(func, "__func__", func)
        if follow_globals and isinstance(plain, types.FunctionType) \
                and not plain.__code__.co_freevars:
            found = self._referenced(plain)
            auto += found.deps
            modules = tuple(dict.fromkeys(modules + found.imports))
            values = found.values
        call_name = None
        if isinstance(func, types.MethodType):
            owner = func.__self__
            cls = owner if isinstance(owner, type) else type(owner)
            if not isinstance(owner, type):
                # legacy pp: the instance becomes the first argument
                if call == CALL_ARGS:
                    args = (owner,) + args
                elif call == CALL_KWARGS:
                    args = ((owner,) + args[0], args[1])
                else:
                    args = ([owner] * len(args[0]),) + args
            auto += tuple(class_hierarchy(cls))
            func = func.__func__
            if "<locals>" not in cls.__qualname__:
                call_name = "%s.%s" % (cls.__qualname__, func.__name__)
        direct = args if call == CALL_ARGS else ()
        deep = call != CALL_ARGS  # the arguments may hold other objects
        buffer = False  # a bytes, bytearray or memoryview among them
        for arg in direct:
            cls = type(arg)
            if cls in ATOMIC_TYPES:
                buffer = buffer or cls in worker.BUFFER_TYPES
                continue
            deep = True
            if cls in PLAIN_TYPES:
                continue
            if isinstance(arg, types.FunctionType):
                auto += (arg,)
            elif is_not_imported(cls, modules) and not is_pp(cls):
                auto += tuple(class_hierarchy(cls))
        if deep:
            sargs, buffers, inside = dumps_finding_main(args, proto)
            auto += tuple(inside)
        elif buffer:
            sargs, buffers = worker.dumps(args, proto)  # a large one goes out of band
        else:  # scalars only: the tiny job's path, kept short
            sargs = pickle.dumps(args, proto if proto >= OUT_OF_BAND_PROTOCOL
                                 else OUT_OF_BAND_PROTOCOL)
            buffers = worker.NO_BUFFERS
        return self.ship(func, depfuncs, auto, modules, call_name, call, by_value,
                         values), sargs, buffers

    def _referenced(self, func: types.FunctionType) -> Referenced:
        """referenced_globals(func), worked out once per function."""
        found = self._globals_of.get(func)
        if found is None:
            found = referenced_globals(func)
            with self._lock:
                if len(self._globals_of) >= MAX_CACHED_CALLS:
                    self._globals_of.clear()
                self._globals_of[func] = found
        return found

    def ship(self, func: Any, depfuncs: tuple, auto: tuple, modules: tuple,
             call_name: str | None = None, call: str = CALL_ARGS,
             by_value: dict | None = None, values: dict | None = None) -> Shipment:
        """The shipment for func with its explicit and automatic dependencies.

        ``call_name`` overrides the dotted name the worker calls (a method
        called through its class).
        """
        key: tuple | None = (func, depfuncs, auto, modules, call_name, call,
                             tuple(values or ()))
        try:
            cached = self._by_call.get(key)  # type: ignore[arg-type]
        except TypeError:  # an unhashable dependency: build every time
            cached, key = None, None
        if cached is not None:
            return cached
        blob, valued = self._build(func, depfuncs, auto, modules, call_name, call, by_value,
                                   values or {})
        shipment = self._keyed(blob)
        # A function shipped by value carries what its closure holds now,
        # which may change: built anew at every submit (equal blobs still
        # share a key, so workers get it once).
        if key is not None and not valued:
            with self._lock:
                if len(self._by_call) >= MAX_CACHED_CALLS:
                    self._by_call.clear()
                self._by_call[key] = shipment
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
               call_name: str | None, call: str, by_value: dict | None,
               values: dict) -> tuple[bytes, bool]:
        """The blob (see pp.worker.prepare) and whether func ships by value."""
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
        options: dict[str, Any] = {}
        if call != CALL_ARGS:
            options["call"] = call
        pickled = {}
        for value_name, value in values.items():
            try:
                pickled[value_name] = pickle.dumps(value, protocol=4)
            except Exception:
                pass  # as with legacy pp's globals: the job sees a NameError
        if pickled:
            options["values"] = pickled
        memo = {} if by_value is None else by_value

        def valued(why: str) -> bytes:
            if id(func) not in memo:
                memo[id(func)] = dumps_by_value(func, why)
            return memo[id(func)]

        closure = bool(getattr(getattr(func, "__code__", None), "co_freevars", ()))
        if closure and not cloudpickle_available():
            closure = False  # legacy pp ships its source, which lacks the variables
        if call_name is not None:
            name = call_name
        elif closure:
            # Its source would run without the variables it closes over.
            name = func.__name__
            options["by_value"] = valued("it is a closure")
        else:
            try:
                name = add(func, required=True) or func.__name__
            except ValueError as no_source:
                # No source to ship (an inline lambda, a function typed at a
                # prompt, a callable object such as functools.partial): the
                # function itself travels, pickled.
                name = getattr(func, "__name__", type(func).__name__)
                options["by_value"] = valued(str(no_source))
        # Plain tuples, not Source: a node's worker unpickles the blob
        # without the pp package. Legacy jobs keep pp's three-part blob.
        plain = [tuple(source) for source in sources]
        blob = (name, plain, tuple(imports)) + ((options,) if options else ())
        return pickle.dumps(blob, protocol=4), "by_value" in options


def cloudpickle_available() -> bool:
    try:
        import cloudpickle  # noqa: F401
    except ImportError:
        return False
    return True


def dumps_by_value(func: Any, why: str) -> bytes:
    """func pickled, for a callable whose source cannot ship (why says what
    it lacks): a callable object the standard pickle takes as it is (a
    functools.partial, an instance of an importable class); anything else,
    a function above all, by value with cloudpickle."""
    if not isinstance(func, types.FunctionType):
        try:
            return pickle.dumps(func, protocol=4)
        except Exception:
            pass
    try:
        import cloudpickle
    except ImportError:
        raise ValueError(
            "%s; shipping it by value needs cloudpickle: pip install 'ppgo[cloudpickle]'"
            % why) from None
    return cloudpickle.dumps(func, protocol=4)


class _MainObjectFinder(pickle.Pickler):
    """Pickles, noting the classes and functions of __main__ that the
    pickle refers to by name (instances' classes included)."""

    def __init__(self, file: io.BytesIO, proto: int,
                 buffer_callback: Callable[[pickle.PickleBuffer], bool]) -> None:
        super().__init__(file, proto, buffer_callback=buffer_callback)
        self.found: dict[int, Any] = {}

    def reducer_override(self, obj: Any) -> Any:
        # An instance's __module__ is its class's.
        if getattr(obj, "__module__", None) == "__main__":
            found = obj if isinstance(obj, (type, types.FunctionType)) else type(obj)
            self.found.setdefault(id(found), found)
        return NotImplemented


def dumps_finding_main(args: tuple,
                       proto: int) -> tuple[bytes, list[memoryview], list[Any]]:
    """Pickles args as pp.worker.dumps does (the pickle, and the large
    buffers left out of band) and returns the classes (bases first) and
    functions of the user's script they refer to anywhere inside (instances
    in a list, a function in a dict...): the worker only finds those if
    their source ships. One pass, but slower than pickle.dumps for small
    arguments, so callers use it only when an argument can hold other
    objects."""
    protocol = max(proto, worker.OUT_OF_BAND_PROTOCOL)
    finders: list[_MainObjectFinder] = []  # the last dump's is the pickle's

    def dump(obj: Any, callback: Callable[[pickle.PickleBuffer], bool]) -> bytes:
        buffer = io.BytesIO()
        finder = _MainObjectFinder(buffer, protocol, callback)
        finder.dump(obj)
        finders[:] = [finder]
        return buffer.getvalue()

    data, buffers = worker.dumps_out_of_band(dump, args)
    found: list[Any] = []
    for obj in finders[0].found.values():
        found.extend(class_hierarchy(obj) if isinstance(obj, type) else [obj])
    return data, buffers, found


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


class Referenced(NamedTuple):
    """What a function's code uses from its module's globals."""

    deps: tuple    # functions and classes (shipped as source or import-and-bind)
    imports: tuple  # module entries ("import numpy as np")
    values: dict   # anything else, by name (constants, objects): shipped pickled


def referenced_globals(func: types.FunctionType) -> Referenced:
    """The globals func's code (and that of the functions and classes it
    uses, in turn) refers to by name: what a ProcessPoolExecutor job finds
    in its module, for the Executor to ship with it."""
    deps: dict[int, Any] = {}
    imports: dict[str, None] = {}
    values: dict[str, Any] = {}
    todo: list[Any] = [func]
    while todo:
        current = todo.pop()
        namespace = getattr(current, "__globals__", None) or vars(sys.modules.get(
            getattr(current, "__module__", ""), types.ModuleType("_")))
        for name in _global_names(current):
            if name not in namespace:
                continue  # a builtin, or not defined yet
            obj = namespace[name]
            if isinstance(obj, types.ModuleType):
                if obj.__name__ != "pp" and not obj.__name__.startswith("pp."):
                    imports[_import_entry(name, obj)] = None
            elif isinstance(obj, (types.FunctionType, type)) or callable(obj) and \
                    hasattr(obj, "__qualname__"):
                if is_pp(obj) or id(obj) in deps or obj is func:
                    continue
                deps[id(obj)] = obj
                if isinstance(obj, (types.FunctionType, type)) and has_source(obj):
                    todo.append(obj)
            elif name not in values:
                values[name] = obj
    return Referenced(tuple(deps.values()), tuple(imports), values)


def _global_names(obj: Any) -> set[str]:
    """The global names a function's code (or a class's methods') load."""
    codes = []
    if isinstance(obj, types.FunctionType):
        codes.append(obj.__code__)
    elif isinstance(obj, type):
        for member in vars(obj).values():
            member = getattr(member, "__func__", member)
            if isinstance(member, types.FunctionType):
                codes.append(member.__code__)
    names: set[str] = set()
    while codes:
        code = codes.pop()
        names.update(code.co_names)
        codes.extend(c for c in code.co_consts if isinstance(c, types.CodeType))
    return names


def _import_entry(name: str, module: types.ModuleType) -> str:
    """The modules= entry that binds name to module in a worker."""
    if name == module.__name__:
        return name
    if "." in module.__name__ and name == module.__name__.rsplit(".", 1)[1]:
        parent, child = module.__name__.rsplit(".", 1)
        return "from %s import %s" % (parent, child)
    return "import %s as %s" % (module.__name__, name)
