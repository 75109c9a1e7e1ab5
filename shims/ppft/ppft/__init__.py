"""ppft's interface, served by ppgo's pp.

pathos (``pathos.pools.ParallelPool``) and other code written for ppft, the
pp fork that pathos depends on, import ``ppft``; this package gives them
ppgo's engine under ppft's names. It is a stand-in installed beside ppgo
(see docs/PATHOS.md in ppgo), not uqfoundation's ppft.
"""

from pp import DestroyedServerError, Server, Template, copyright
from pp._server import Statistics as _Statistics
from pp._task import Task as _Task

# The ppft release whose interface this stands in for, and the local label
# that tells pip (and `python -m ppgo`) it is ppgo's.
__version__ = "1.7.8+ppgo"
version = __version__

__all__ = ["DestroyedServerError", "Server", "Template", "copyright", "version",
           "_Statistics", "_Task"]
