"""``python -m node`` does what the ``rakuichi`` console script does."""

import sys

from node.cli import main

sys.exit(main())
