"""ppgo, the distribution that provides the ``pp`` module (Parallel Python
on a Go core). Programs import ``pp``; this package holds only what must
work even when another distribution's ``pp`` has replaced ppgo's:
``python -m ppgo`` checks the environment (see ppgo.doctor)."""
