"""What ships with a job, checked in pure Python: pp._source builds the
shipment the way Server.submit does, and pp.worker's own functions rebuild
the job's namespace and call it, as a worker would. No Go core, no worker
process: `make test-shipping` runs this file against the source tree
without building the extension.
"""

from __future__ import annotations

import ast
import functools
import inspect
import math
import pickle
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import pytest

import globals_mod
import jobs
from pp import _source, worker

PP_DIR = Path(_source.__file__).resolve().parent


def run_shipped(func, args=(), depfuncs=(), modules=(), globals=None,
                call=_source.CALL_ARGS):
    """Ships func as submit would and runs it as a worker would."""
    shipment, sargs, buffers = _source.Shipper().prepare(func, args, depfuncs, modules,
                                                         globals, pickle.HIGHEST_PROTOCOL, call)
    main = sys.modules["__main__"]
    try:
        prepared = worker.prepare(shipment.blob)
        assert not prepared.warnings, prepared.warnings
        return prepared.run(worker.load(sargs, buffers))
    finally:
        sys.modules["__main__"] = main  # the worker makes the job's namespace __main__


def shipped_names(func, args=(), depfuncs=(), modules=()):
    """The names the shipment defines in the worker, in the order shipped."""
    shipment, _, _ = _source.Shipper().prepare(func, args, depfuncs, modules, None, 4)
    name, sources, imports = pickle.loads(shipment.blob)
    defined = []
    for text, *_ in sources:
        stmt = ast.parse(text).body[0]
        defined.append(stmt.targets[0].id if isinstance(stmt, ast.Assign) else stmt.name)
    return name, defined, imports


def test_shipping_needs_no_go_core():
    code = "import pp._source, pp.worker, sys; print('pp._core' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "False"


@pytest.mark.parametrize("depfuncs", [
    (jobs.Square, jobs.Shape),
    (jobs.Shape, jobs.Square),
    (jobs.Square,),  # its base ships with it
])
def test_classes_and_bases_in_any_order(depfuncs):
    assert run_shipped(jobs.square_sides_and_area, (3,), depfuncs) == (4, 0, 9)


def test_decorator_listed_after_the_function_it_decorates():
    assert run_shipped(jobs.call_tagged_double, (4,), (jobs.tagged_double, jobs.tag)) \
        == (8, "tagged")


def test_helpers_from_depfuncs():
    assert run_shipped(jobs.sum_of_cubes_plus_one, (4,),
                       (jobs.helper_cube, jobs.helper_plus_one)) == 37


def test_bound_method_ships_its_class_and_gets_the_instance_first():
    name, defined, _ = shipped_names(jobs.Square(2).scaled_area, (3,))
    assert name == "Square.scaled_area"
    assert defined == ["Shape", "Square"]
    assert run_shipped(jobs.Square(2).scaled_area, (3,)) == (36, 0, 4)


def test_instance_argument_ships_its_class_hierarchy():
    _, defined, _ = shipped_names(jobs.area_via_shipped_class, (jobs.Square(2),))
    assert defined[:2] == ["Shape", "Square"]
    assert run_shipped(jobs.area_via_shipped_class, (jobs.Square(2),)) \
        == (9, 0, "Square with 4 sides")


def test_function_argument_ships_as_source():
    assert run_shipped(jobs.call_shipped_by_name, (jobs.double, 20)) == 41


@pytest.mark.parametrize("func, args, result", [
    (math.sqrt, (16.0,), 4.0),
    (str.upper, ("abc",), "ABC"),
    (abs, (-3,), 3),
])
def test_builtins_ship_as_import_and_bind(func, args, result):
    assert run_shipped(func, args) == result


def test_lambda_assigned_to_a_name_ships_under_it():
    name, defined, _ = shipped_names(jobs.triple, (2,))
    assert name == defined[-1] == "triple"
    assert run_shipped(jobs.triple, (5,)) == 15


def test_without_cloudpickle_what_has_no_source_is_refused_naming_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "cloudpickle", None)
    namespace: dict = {}
    exec("def made_by_exec(x):\n    return x\n", namespace)
    with pytest.raises(ValueError, match="lambda.*ppgo\\[cloudpickle\\]"):
        _source.Shipper().prepare(lambda x: x, (1,), (), (), None, 4)
    with pytest.raises(ValueError, match="made_by_exec.*ppgo\\[cloudpickle\\]"):
        _source.Shipper().prepare(namespace["made_by_exec"], (1,), (), (), None, 4)


def test_what_has_no_source_ships_by_value():
    pytest.importorskip("cloudpickle")
    namespace: dict = {}
    exec("def made_by_exec(x):\n    return x * 3\n", namespace)
    base = 5

    def closure(x):
        return x + base

    assert run_shipped(lambda x: x - 1, (1,)) == 0
    assert run_shipped(namespace["made_by_exec"], (2,)) == 6
    assert run_shipped(closure, (1,)) == 6
    assert run_shipped(functools.partial(jobs.add, 10), (5,)) == 15  # standard pickle


def test_calling_conventions():
    assert run_shipped(jobs.add, ((1,), {"b": 2}), call=_source.CALL_KWARGS) == 3
    # A chunk is a tuple of argument columns: add(1, 2), add(3, 4).
    assert run_shipped(jobs.add, ([1, 3], [2, 4]), call=_source.CALL_CHUNK) == [3, 7]
    # A bound method's instance becomes a column of its own.
    assert run_shipped(jobs.Vector(3, 4).scaled, ([1, 2],), call=_source.CALL_CHUNK) == [25, 100]
    assert (_source.CALL_ARGS, _source.CALL_KWARGS, _source.CALL_CHUNK) == \
        (worker.CALL_ARGS, worker.CALL_KWARGS, worker.CALL_CHUNK)
    with pytest.raises(ValueError, match="unknown calling convention 'rows'"):
        run_shipped(jobs.add, (1, 2), call="rows")


@pytest.mark.parametrize("func, modules, args, result", [
    (jobs.use_os_path, ("os.path",), ("a", "b"), "a/b"),
    (jobs.use_sqrt, ("from math import sqrt",), (9.0,), 3.0),
    (jobs.use_m, ("import math as m",), (2.0,), math.pi * 2.0),
])
def test_module_entries(func, modules, args, result):
    assert run_shipped(func, args, (), modules) == result


def test_globals_ships_modules_functions_and_classes():
    shipment, _, _ = _source.Shipper().prepare(globals_mod.compute, (16,), (), (),
                                               vars(globals_mod), 4)
    assert "math" in pickle.loads(shipment.blob)[2]
    assert run_shipped(globals_mod.compute, (16,), globals=vars(globals_mod)) \
        == (4.0, "c.txt", 17)


def test_equal_calls_share_a_shipment_and_changed_source_gets_a_new_key():
    shipper = _source.Shipper()
    first, _, _ = shipper.prepare(jobs.square, (1,), (), (), None, 4)
    again, _, _ = shipper.prepare(jobs.square, (2,), (), (), None, 4)
    other, _, _ = shipper.prepare(jobs.add, (1, 2), (), (), None, 4)
    assert first == again and first.key != other.key


def module_level(tree: ast.Module):
    """The statements that run when a module is imported, and those under
    ``if TYPE_CHECKING:``; not those in function bodies, which are imports
    deferred on purpose (pp loads the futures interface only when used)."""
    stack = list(tree.body)
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, (ast.If, ast.Try)):
            stack.extend(node.body + node.orelse)
            stack.extend(h for handler in getattr(node, "handlers", []) for h in handler.body)


def test_pp_import_graph_has_no_cycle():
    """pp's modules depend one way (imports for type checking included)."""
    graph: dict[str, set[str]] = {}
    for path in PP_DIR.glob("*.py"):
        module = "pp." + path.stem if path.stem != "__init__" else "pp"
        edges = graph.setdefault(module, set())
        for node in module_level(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                if node.module == "pp":
                    edges.update("pp." + alias.name for alias in node.names)
                elif node.module.startswith("pp."):
                    edges.add(node.module)
            elif isinstance(node, ast.Import):
                edges.update(a.name for a in node.names if a.name.startswith("pp."))
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> None:
        if module in path:
            raise AssertionError("import cycle: " + " -> ".join(path + [module]))
        if module in done or module not in graph:
            return
        for target in sorted(graph[module]):
            visit(target, path + [module])
        done.add(module)

    for module in sorted(graph):
        visit(module, [])


def only_a_docstring():
    """Its code spans the def line alone: the lines found do not compile,
    and inspect is asked."""


def _plain_functions(module) -> list:
    found = [v for v in vars(module).values() if inspect.isfunction(v)]
    for cls in [v for v in vars(module).values() if inspect.isclass(v)]:
        found += [v for v in vars(cls).values() if inspect.isfunction(v)]
    return [f for f in found if f.__module__ == module.__name__]


@pytest.mark.parametrize("module", [jobs, globals_mod, _source, worker, sys.modules[__name__]],
                         ids=lambda m: m.__name__)
def test_a_functions_source_from_its_code_is_what_inspect_finds(module):
    # function_source skips the tokenizer (start-up); where it answers, it
    # must answer as inspect does, but for comment lines after the last
    # statement, which inspect keeps.
    answered = 0
    for func in _plain_functions(module):
        found = _source.function_source(func)
        if found is None:
            continue
        answered += 1
        text, filename, first = found
        lines, lineno = inspect.getsourcelines(func)
        want = textwrap.dedent("".join(lines))
        assert (filename, first) == (inspect.getsourcefile(func), lineno), func
        assert want.startswith(text), func
        assert all(not line.strip() or line.strip().startswith("#")
                   for line in want[len(text):].splitlines()), func
    if hasattr(types.CodeType, "co_positions"):  # before 3.11 inspect answers for all
        assert answered >= len(_plain_functions(module)) // 2
    else:
        assert answered == 0


def test_a_function_its_code_cannot_place_ships_through_inspect():
    assert _source.function_source(only_a_docstring) is None
    assert run_shipped(only_a_docstring) is None


def test_a_long_list_of_small_items_is_not_walked_for_buffers(monkeypatch):
    # Looking for large buffers deep inside an argument walks it item by
    # item, which for Executor.map's chunks cost more than pickling them:
    # only a pickle that came out large is looked into.
    walked = []
    monkeypatch.setattr(worker, "wrap_large", lambda obj: walked.append(obj) or obj)
    chunk = (list(range(10_000)),)
    data, buffers, _ = _source.dumps_finding_main(chunk, pickle.HIGHEST_PROTOCOL)
    assert pickle.loads(data) == chunk and buffers == [] and walked == []
    big = ([b"x" * (worker.OUT_OF_BAND_MIN * 2)],)
    _source.dumps_finding_main(big, pickle.HIGHEST_PROTOCOL)
    assert walked, "a large pickle was not looked into"
