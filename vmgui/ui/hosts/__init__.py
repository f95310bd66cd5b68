"""The host list, the host details pane, and the host commands."""
