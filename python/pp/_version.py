"""Version of the ppgo distribution, which provides the pp module."""

version = "0.1.0"
__version__ = version
copyright = "Copyright (c) 2026 the ppgo authors. Parallel Python API by Vitalii Vanovschi."
author = "the ppgo authors"

__author__ = author
__copyright__ = copyright
