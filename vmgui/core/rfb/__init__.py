"""vmgui's own RFB 3.8 (VNC) client protocol: pure, sans-I/O, vectorised with numpy.

:mod:`~vmgui.core.rfb.protocol` holds the state machine (bytes in, events and bytes out);
the decoders live in :mod:`~vmgui.core.rfb.raw`, :mod:`~vmgui.core.rfb.tight` and
:mod:`~vmgui.core.rfb.zrle`; X keysyms in :mod:`~vmgui.core.rfb.keys`. Socket I/O is in
:mod:`vmgui.virt.vnc`.
"""
