"""vmgui's one XML layer, on the standard library's ElementTree (no libvirt calls).

- :mod:`~vmgui.core.xml.base`: the one root parser, child helpers, namespaces, the error type;
- :mod:`~vmgui.core.xml.domain`: the domain read model and the storage rules built on it;
- :mod:`~vmgui.core.xml.edit`: edits of persistent definitions, templates and clones;
- :mod:`~vmgui.core.xml.build`: the documents provisioning writes;
- :mod:`~vmgui.core.xml.host`: small readers for capabilities, pools, volumes and networks.

The virt layer asks libvirt for the XML string and hands it here; nothing outside
``vmgui.core`` imports an XML library (an import-linter contract checks it).
"""
