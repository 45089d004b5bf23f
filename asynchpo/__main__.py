"""``python -m asynchpo``: the command line (see :mod:`asynchpo._cli`)."""

import sys

from asynchpo._cli import main

if __name__ == "__main__":
    sys.exit(main())
