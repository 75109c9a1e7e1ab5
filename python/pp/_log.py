"""The "pp" logger, imported on first use."""

from __future__ import annotations

import sys
from typing import Any


class Logger:
    """The "pp" logger, imported on first use: logging takes milliseconds to
    import, and a message below WARNING cannot be shown unless the program
    has set logging up, which imports it."""

    def __init__(self, level: int | str | None) -> None:
        self._logger: Any = None
        if level is not None:
            self.get().setLevel(level)

    def get(self) -> Any:
        if self._logger is None:
            import logging

            self._logger = logging.getLogger("pp")
        return self._logger

    def log(self, level: int, msg: str, *args: Any, **kwargs: Any) -> None:
        if level < 30 and self._logger is None and "logging" not in sys.modules:
            return
        self.get().log(level, msg, *args, **kwargs)

    def info(self, msg: str, *args: Any) -> None:
        self.log(20, msg, *args)

    def warning(self, msg: str, *args: Any) -> None:
        self.log(30, msg, *args)

    def exception(self, msg: str, *args: Any) -> None:
        self.log(40, msg, *args, exc_info=True)
