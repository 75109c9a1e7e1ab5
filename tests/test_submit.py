"""Server.submit: argument checks, and what ships with a job."""

import importlib.util
import math
import os
import sys

import pytest

import pp
import globals_mod
import jobs
from helpers import run_script

needs_cloudpickle = pytest.mark.skipif(importlib.util.find_spec("cloudpickle") is None,
                                       reason="ships lambdas by value: needs cloudpickle")


# -- type checks ------------------------------------------------------------

@pytest.mark.parametrize("kwargs", [
    {"args": [1]},
    {"args": 1},
    {"depfuncs": [jobs.helper_cube]},
    {"depfuncs": jobs.helper_cube},
    {"modules": ["math"]},
    {"modules": "math"},
    {"callbackargs": [1]},
    {"modules": (math,)},
    {"modules": ("math", 3)},
    {"globals": [("a", 1)]},
    {"globals": "globals"},
])
def test_submit_type_errors(server, kwargs):
    kwargs.setdefault("args", (1,))
    with pytest.raises(TypeError):
        server.submit(jobs.square, **kwargs)
    # A refused submit leaves nothing behind: wait() returns and jobs run.
    server.wait()
    assert server.submit(jobs.square, (5,))() == 25


def test_globals_none_and_dict_accepted(server):
    assert server.submit(jobs.square, (3,), globals=None)() == 9
    assert server.submit(jobs.square, (4,), globals={})() == 16


def test_submit_after_destroy_raises():
    server = pp.Server(ncpus=1)
    server.destroy()
    with pytest.raises(pp.DestroyedServerError):
        server.submit(jobs.square, (2,))


def test_submit_returns_at_once(server, tmp_path):
    gate = tmp_path / "gate"
    task = server.submit(jobs.wait_for_path, (str(gate), "done"))
    # submit returned while the job is still blocked on its gate
    assert task.finished is False
    gate.touch()
    assert task() == "done"


def test_jobs_run_in_submission_order(server1, tmp_path):
    log = tmp_path / "order.log"
    tasks = [server1.submit(jobs.append_line, (str(log), i)) for i in range(20)]
    assert [t() for t in tasks] == list(range(20))
    assert log.read_text().split() == [str(i) for i in range(20)]


# -- positional and keyword arguments -----------------------------------------

def test_submit_positional_arguments(server):
    task = server.submit(jobs.sum_of_cubes_plus_one, (4,), (jobs.helper_cube, jobs.helper_plus_one),
                         (), None, (), "default", None)
    assert task() == 0 + 1 + 8 + 27 + 1


# -- depfuncs ----------------------------------------------------------------

def test_depfuncs_define_helpers(server):
    task = server.submit(jobs.sum_of_cubes_plus_one, (5,),
                         depfuncs=(jobs.helper_cube, jobs.helper_plus_one))
    assert task() == sum(i ** 3 for i in range(5)) + 1


def test_missing_depfunc_gives_none_and_nameerror(server, capfd):
    task = server.submit(jobs.sum_of_cubes_plus_one, (5,), depfuncs=(jobs.helper_cube,))
    assert task() is None
    out, err = capfd.readouterr()
    assert "helper_plus_one" in out + err
    assert "NameError" in out + err


def test_class_in_depfuncs(server):
    task = server.submit(jobs.make_vector_norm2, (3, 4), depfuncs=(jobs.Vector,))
    assert task() == 25


# pp 1.7.0 defines depfuncs in the order given: a subclass listed before its
# base fails the first time a worker sees it (tests/test_corpus.py).
@pytest.mark.ppgo_only
@pytest.mark.parametrize("depfuncs", [
    (jobs.Square, jobs.Shape),
    (jobs.Shape, jobs.Square),
])
def test_depfuncs_classes_in_any_order(server, depfuncs):
    task = server.submit(jobs.square_sides_and_area, (3,), depfuncs=depfuncs)
    assert task() == (4, 0, 9)


# pp 1.7.0 ships only what depfuncs list.
@pytest.mark.ppgo_only
def test_depfuncs_class_brings_its_bases(server):
    assert server.submit(jobs.square_sides_and_area, (2,), depfuncs=(jobs.Square,))() == (4, 0, 4)


@pytest.mark.ppgo_only
def test_depfuncs_decorator_listed_after_its_use(server):
    task = server.submit(jobs.call_tagged_double, (4,), depfuncs=(jobs.tagged_double, jobs.tag))
    assert task() == (8, "tagged")


def test_missing_base_class_still_fails_clearly(server, capfd):
    # A base that cannot be defined at all is a NameError the user sees,
    # not a loop.
    task = server.submit(jobs.call_tagged_double, (4,), depfuncs=(jobs.tagged_double,))
    assert task() is None
    out, err = capfd.readouterr()
    assert "NameError" in out + err and "'tag'" in out + err


def test_callers_globals_are_not_shipped(server, capfd):
    assert server.submit(jobs.use_module_global)() is None
    out, err = capfd.readouterr()
    assert "NameError" in out + err
    assert "JOBS_CONSTANT" in out + err


# -- modules ------------------------------------------------------------------

def test_modules_plain(server):
    assert server.submit(jobs.use_math, (16.0,), modules=("math",))() == 6.0


def test_modules_dotted(server):
    task = server.submit(jobs.use_os_path, ("a", "b"), modules=("os.path",))
    assert task() == os.path.join("a", "b")


def test_modules_from_import_statement(server):
    assert server.submit(jobs.use_sqrt, (81.0,), modules=("from math import sqrt",))() == 9.0


def test_modules_import_as_statement(server):
    assert server.submit(jobs.use_m, (2.0,), modules=("import math as m",))() == 2 * math.pi


def test_modules_several_at_once(server):
    task = server.submit(jobs.use_m, (1.0,), modules=("math", "os.path", "import math as m"))
    assert task() == math.pi


def test_module_not_listed_is_not_imported(server, capfd):
    assert server.submit(jobs.use_math, (4.0,))() is None
    out, err = capfd.readouterr()
    assert "NameError" in out + err


@pytest.mark.ppgo_only
def test_each_function_gets_a_fresh_namespace(server1, capfd):
    # pp 1.7.0 runs every job of a worker in the worker's one __main__
    # namespace, so a module imported for an earlier job leaks into later
    # ones; PP_COMPAT.md says each job gets a fresh namespace.
    assert server1.submit(jobs.identity, (1,), modules=("json",))() == 1
    assert server1.submit(jobs.use_json_without_import)() is None
    out, err = capfd.readouterr()
    assert "NameError" in out + err


# -- callables without source -------------------------------------------------

def test_builtin_math_sqrt_as_func(server):
    assert server.submit(math.sqrt, (16.0,))() == 4.0


def test_builtin_method_descriptor_as_func(server):
    assert server.submit(str.upper, ("abc",))() == "ABC"


def test_builtin_function_as_func(server):
    assert server.submit(pow, (2, 10))() == 1024
    assert server.submit(len, ([1, 2, 3],))() == 3


def test_lambda_assigned_to_a_name_ships(server):
    assert server.submit(jobs.triple, (5,))() == 15


def test_local_lambda_assigned_to_a_name_ships(server):
    quadruple = lambda x: 4 * x  # noqa: E731
    assert server.submit(quadruple, (5,))() == 20


@pytest.fixture
def no_cloudpickle(monkeypatch):
    """As where cloudpickle is not installed (ppgo ships functions without
    source by value only with it)."""
    monkeypatch.setitem(sys.modules, "cloudpickle", None)


def test_inline_lambda_is_refused_naming_it(server, no_cloudpickle):
    with pytest.raises(ValueError) as info:
        server.submit(lambda x: x + 1, (1,))
    assert "lambda" in str(info.value)
    # Nothing was queued by the refused submit.
    server.wait()
    assert server.submit(jobs.square, (3,))() == 9


def test_function_made_by_exec_is_refused_naming_it(server, no_cloudpickle):
    namespace = {}
    exec("def made_by_exec_ppgo(x):\n    return x\n", namespace)
    with pytest.raises(ValueError) as info:
        server.submit(namespace["made_by_exec_ppgo"], (1,))
    assert "made_by_exec_ppgo" in str(info.value)
    server.wait()
    assert server.submit(jobs.square, (3,))() == 9


@pytest.mark.ppgo_only
def test_refusal_names_the_extra_that_ships_by_value(server, no_cloudpickle):
    with pytest.raises(ValueError, match=r"ppgo\[cloudpickle\]"):
        server.submit(lambda x: x + 1, (1,))


# pp 1.7.0 cannot ship what has no source; ppgo ships it by value with
# cloudpickle.
@pytest.mark.ppgo_only
@needs_cloudpickle
def test_functions_without_source_ship_by_value(server):
    namespace = {}
    exec("def made_by_exec_ppgo(x):\n    return x * 10\n", namespace)
    offset = 7

    def closure(x):
        return x + offset

    assert server.submit(lambda x: x + 1, (1,))() == 2
    assert server.submit(namespace["made_by_exec_ppgo"], (2,))() == 20
    assert server.submit(closure, (1,))() == 8
    offset = 100  # a closure ships what it holds when submitted
    assert server.submit(closure, (1,))() == 101


# -- bound methods, classes of arguments, functions as arguments ----------------

NESTED_SCRIPT = """
import pp


class Point:
    def __init__(self, x, y):
        self.x, self.y = x, y


def norm(p):
    return abs(p.x) + abs(p.y)


def total(points, ops):
    return sum(ops["norm"](p) for p in points)


Dynamic = type("Dynamic", (), {})  # no source to ship


def count(items):
    return len(items)


server = pp.Server(1)
print(server.submit(total, ([Point(1, -2), Point(3, 4)], {"norm": norm}))())
print(server.submit(count, ([Dynamic()],))())
server.destroy()
"""


# pp 1.7.0 ships the classes of the arguments themselves only.
@pytest.mark.ppgo_only
def test_classes_and_functions_inside_arguments_ship(tmp_path):
    proc = run_script(tmp_path, NESTED_SCRIPT)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "10"
    # What cannot ship is reported as pp reports it, with what to do.
    assert "An error has occurred during the argument unpickling:" in lines
    assert any("Can't get attribute 'Dynamic'" in line for line in lines)
    assert any(line.startswith("pp: an argument refers to a class") for line in lines)
    assert lines[-1] == "None"


def test_bound_method(server):
    sq = jobs.Square(2)
    # Square(2 * 3).area() and both classes used by name in the method.
    assert server.submit(sq.scaled_area, (3,))() == (36, 0, 4)


def test_bound_method_uses_instance_state(server):
    sq = jobs.Square(7)
    assert server.submit(sq.area)() == 49
    assert server.submit(sq.describe)() == "Square with 4 sides"


def test_argument_instance_ships_its_class_hierarchy(server):
    task = server.submit(jobs.area_via_shipped_class, (jobs.Square(3),))
    assert task() == (16, 0, "Square with 4 sides")


def test_argument_instance_is_returned_intact(server):
    result = server.submit(jobs.identity, (jobs.Square(5),))()
    assert isinstance(result, jobs.Square)
    assert result.side == 5 and result.area() == 25


def test_function_argument_is_called(server):
    assert server.submit(jobs.apply_function, (jobs.double, 21))() == 42


def test_function_argument_ships_as_source(server):
    assert server.submit(jobs.call_shipped_by_name, (jobs.double, 20))() == 41


def test_builtin_function_argument(server):
    assert server.submit(jobs.apply_function, (abs, -3))() == 3


# -- globals=globals() ---------------------------------------------------------

def test_globals_ships_modules_functions_and_classes(server):
    assert globals_mod.submit_compute(server, 16)() == (4.0, "c.txt", 17)


def test_without_globals_the_same_job_fails(server, capfd):
    assert globals_mod.submit_compute_without_globals(server, 16)() is None
    out, err = capfd.readouterr()
    assert "NameError" in out + err


def test_globals_with_imported_module(server):
    assert globals_mod.submit_uses_imported_module_function(server, 6)() == 36


# -- the cache is keyed by source content ------------------------------------------

def _load_module(name, path):
    spec = importlib.util.spec_from_file_location(name, str(path))
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def two_modules_named_f(tmp_path):
    (tmp_path / "ppgo_same_name_a.py").write_text("def f(x):\n    return ('A', x)\n")
    (tmp_path / "ppgo_same_name_b.py").write_text("def f(x):\n    return ('B', x * 10)\n")
    mods = (_load_module("ppgo_same_name_a", tmp_path / "ppgo_same_name_a.py"),
            _load_module("ppgo_same_name_b", tmp_path / "ppgo_same_name_b.py"))
    yield mods
    for m in mods:
        sys.modules.pop(m.__name__, None)


# ppgo_only: pp 1.7.0 caches a shipped function by its name in the worker's
# one shared namespace, so once B's f has run, A's f (a cache hit on the
# worker) calls B's body; PP_COMPAT.md says two functions that share a name
# never stand in for each other in a worker.
@pytest.mark.ppgo_only
def test_functions_sharing_a_name_never_stand_in_for_each_other(server1, two_modules_named_f):
    a, b = two_modules_named_f
    tasks = []
    for i in range(6):
        tasks.append((("A", i), server1.submit(a.f, (i,))))
        tasks.append((("B", i * 10), server1.submit(b.f, (i,))))
    for expected, task in tasks:
        assert task() == expected


def test_functions_sharing_a_name_first_use(server1, two_modules_named_f):
    # Each function's first use on the worker gets its own source.
    a, b = two_modules_named_f
    assert server1.submit(a.f, (1,))() == ("A", 1)
    assert server1.submit(b.f, (2,))() == ("B", 20)


def test_function_redefined_at_run_time_ships_new_source(server1, tmp_path):
    path = tmp_path / "ppgo_redefined_mod.py"
    path.write_text("def g(x):\n    return ('old', x)\n")
    mod = _load_module("ppgo_redefined_mod", path)
    try:
        assert server1.submit(mod.g, (1,))() == ("old", 1)
        # Same name, new body (of another length, so linecache notices).
        path.write_text("def g(x):\n    return ('new version', x + 100)\n")
        mod = _load_module("ppgo_redefined_mod", path)
        assert server1.submit(mod.g, (1,))() == ("new version", 101)
    finally:
        sys.modules.pop("ppgo_redefined_mod", None)


# -- a pending job sees a server that keeps going --------------------------------

def test_many_different_functions_on_one_worker(server1):
    tasks = [
        server1.submit(jobs.square, (3,)),
        server1.submit(jobs.add, (3, 4)),
        server1.submit(math.sqrt, (9.0,)),
        server1.submit(jobs.triple, (3,)),
        server1.submit(jobs.use_math, (9.0,), modules=("math",)),
        server1.submit(jobs.square, (4,)),
    ]
    assert [t() for t in tasks] == [9, 7, 3.0, 9, 5.0, 16]


def test_globals_with_a_sourceless_function_still_submits(server):
    # globals() may hold functions whose source cannot be found (made by exec);
    # only explicit dependencies must ship, so the job still runs.
    namespace = {"square": jobs.square}
    exec("def made_by_exec(x):\n    return x\n", namespace)
    assert server.submit(jobs.square, (6,), globals=namespace)() == 36
