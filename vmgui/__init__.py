"""vmgui: a desktop virtual machine manager over libvirt."""

__version__ = "0.1.0"
