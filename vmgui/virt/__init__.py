"""libvirt services: event bridge, host connections. No Qt."""
