"""The frozen app's entry point: the `labeler` command (labeler.cli:main).

multiprocessing.freeze_support() must run first in a frozen app: the model worker, the
trainer and the assist model are spawned processes (workers/client.py), and in a frozen
app each one starts this same executable with multiprocessing's arguments; freeze_support
runs the worker there instead of the command line.
"""

import multiprocessing
import sys

if __name__ == "__main__":
    multiprocessing.freeze_support()
    from labeler.cli import main

    sys.exit(main())
