"""The guest list, the guest details pane, and the guest commands and template actions."""
