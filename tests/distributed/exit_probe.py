"""`gan ARGS` as a process that writes $GAN_TEST_TEARDOWN-$RANK when the interpreter's
teardown (atexit) runs: a rank of a process group must end without it (distributed.exit_rank)."""

import atexit
import os
from pathlib import Path

from gancli.cli.app import main

if __name__ == "__main__":
    marker = Path(f"{os.environ['GAN_TEST_TEARDOWN']}-{os.environ.get('RANK', 'alone')}")
    atexit.register(marker.write_text, "ran")
    main()
