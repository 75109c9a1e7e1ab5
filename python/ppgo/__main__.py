"""python -m ppgo: check that this environment runs pp programs on ppgo."""

import sys

from ppgo.doctor import main

sys.exit(main())
