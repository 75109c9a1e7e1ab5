"""pp.Template: a reusable job definition."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from pp._server import Server
    from pp._task import Task


class Template:
    """A reusable job definition: ``.submit(*args)`` submits ``func(*args)``."""

    def __init__(self, job_server: Server, func: Callable, depfuncs: tuple = (),
                 modules: tuple = (), callback: Callable | None = None,
                 callbackargs: tuple = (), group: str = "default",
                 globals: dict | None = None) -> None:
        self.job_server = job_server
        self.func = func
        self.depfuncs = depfuncs
        self.modules = modules
        self.callback = callback
        self.callbackargs = callbackargs
        self.group = group
        self.globals = globals

    def submit(self, *args: Any) -> Task:
        return self.job_server.submit(self.func, args, self.depfuncs, self.modules,
                                      self.callback, self.callbackargs, self.group,
                                      self.globals)
