"""``python -m vmgui.cli``: the same as ``vmgui-cli``."""

import sys

from vmgui.cli import main

sys.exit(main())
