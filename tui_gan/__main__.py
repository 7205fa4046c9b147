"""`python -m tui_gan` is the `tui-gan` command."""

import sys

from tui_gan.cli import main

sys.exit(main())
