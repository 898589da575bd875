"""``python -m mnistkit``: the command line (see ``mnistkit.cli``)."""

import sys

from mnistkit.cli import main

if __name__ == "__main__":
    sys.exit(main())
