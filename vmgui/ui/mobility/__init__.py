"""Mobility in the window: the Snapshots tab, and Clone…, Export…, Import… and Migrate… with
progress and cancel (the services are :mod:`vmgui.virt.snapshots`, :mod:`~vmgui.virt.clone`,
:mod:`~vmgui.virt.export`, :mod:`~vmgui.virt.importer` and :mod:`~vmgui.virt.migrate`)."""
