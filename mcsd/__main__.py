"""``python -m mcsd``: the ``mcsd`` command.

Guarded, so that importing this module (multiprocessing's spawn re-imports a ``-m`` main
module in each child, e.g. the workers of ``mcsd run --workers N``) runs nothing.
"""

import sys

from mcsd.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
