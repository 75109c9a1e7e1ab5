"""python -m pp: checks that this environment's pp is ppgo's (as
``python -m ppgo`` does, which works even when another distribution's pp
has replaced ppgo's)."""

import sys

from ppgo.doctor import main

sys.exit(main())
