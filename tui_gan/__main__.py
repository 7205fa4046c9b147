"""`python -m tui_gan` is the `tui-gan` command."""

import sys

from tui_gan.cli.main import main

sys.exit(main())
