"""Pure Python domain logic: dataclasses, XML, validation. No Qt, no libvirt."""
