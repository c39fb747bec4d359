"""``python -m mcsd``: the ``mcsd`` command."""

import sys

from mcsd.cli.main import main

sys.exit(main())
