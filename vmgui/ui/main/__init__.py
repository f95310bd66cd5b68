"""The main window: layout and wiring, its actions, and which hosts open at start."""
