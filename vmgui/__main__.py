"""``python -m vmgui`` runs the GUI."""

import sys

from vmgui.app import main

sys.exit(main())
