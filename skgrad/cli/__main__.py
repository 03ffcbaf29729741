"""``python -m skgrad.cli``: the ``skgrad`` command."""
import sys

from . import main

sys.exit(main())
