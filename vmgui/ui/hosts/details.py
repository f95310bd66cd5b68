"""The host details pane: one host's connection, identity, guests and what they commit.

:class:`HostDetailsPane` shows snapshots (no libvirt calls); :class:`HostDetailsPresenter`
keeps it showing one host, refreshed when the controller reports news about that host.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from vmgui.core.model import ConnectionState, GuestInfo, HostInfo, HostStatus, consolidation
from vmgui.core.units import format_kib, plural
from vmgui.ui.controller import HostController
from vmgui.ui.widgets import (
    HOST_COLORS,
    MUTED_STYLE,
    RED_COLOR,
    ConsolidationBar,
    PaneHeader,
    align_forms,
    connection_reason,
    consolidation_texts,
    guest_state_summary,
    memory_color,
    muted_label,
    scroll_area,
    section,
    value_label,
    vcpu_color,
)

#: What the host details say about a connection that is neither local nor encrypted.
INSECURE_TEXT = (
    "This connection is not encrypted: passwords, guest data and console traffic cross the "
    "network in clear. Use SSH or TLS (qemu+ssh://, qemu+tls://) for hosts on a network."
)


class HostDetailsPane(QWidget):
    """One host: its connection, identity, guests and what they commit."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("hostDetails")
        self.reason_label = value_label(selectable=True)
        self._header = PaneHeader(self.reason_label)
        self.label = self._header.title
        self.state_badge = self._header.badge
        self.uri_label = value_label(selectable=True)
        #: Shown only for a connection that is neither local nor encrypted.
        self.insecure_label = value_label()
        self.insecure_label.setObjectName("hostInsecure")
        self.insecure_label.setText(INSECURE_TEXT)
        self.insecure_label.setStyleSheet(f"color: {RED_COLOR};")
        self.insecure_label.setWordWrap(True)
        self.insecure_label.hide()
        self.hostname_label = value_label(selectable=True)
        self.hypervisor_label = value_label()
        self.libvirt_label = value_label()
        self.arch_label = value_label()
        self.cpu_model_label = value_label()
        self.cpus_label = value_label()
        self.memory_label = value_label()
        self.guests_total_label = value_label()
        self.guest_states_label = value_label()
        self.consolidation_caption = muted_label()
        self.vcpu_bar = ConsolidationBar()
        self.memory_bar = ConsolidationBar()
        self.defined_label = value_label()

        identity, form = section("Host")
        form.addRow("URI", self.uri_label)
        form.addRow(self.insecure_label)
        form.addRow("Hostname", self.hostname_label)
        form.addRow("Hypervisor", self.hypervisor_label)
        form.addRow("libvirt", self.libvirt_label)
        form.addRow("Architecture", self.arch_label)
        form.addRow("CPU model", self.cpu_model_label)
        form.addRow("Logical CPUs", self.cpus_label)
        form.addRow("Memory", self.memory_label)
        guests, guests_form = section("Guests")
        guests_form.addRow("Total", self.guests_total_label)
        guests_form.addRow("States", self.guest_states_label)
        self._consolidation, cons_form = section("Consolidation")
        cons_form.addRow(self.consolidation_caption)
        for text, bar in (("vCPUs", self.vcpu_bar), ("Memory", self.memory_bar)):
            bar_label = QLabel(text)
            bar_label.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
            cons_form.addRow(bar_label, bar)
        cons_form.addRow("If all ran", self.defined_label)
        align_forms(form, guests_form, cons_form)

        body = QWidget()
        body_layout = QVBoxLayout(body)
        body_layout.setContentsMargins(16, 12, 16, 16)
        body_layout.setSpacing(18)
        body_layout.addWidget(self._header)
        body_layout.addWidget(identity)
        body_layout.addWidget(guests)
        body_layout.addWidget(self._consolidation)
        body_layout.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(scroll_area(body))

    def show_host(
        self, label: str, status: HostStatus, info: HostInfo | None, guests: list[GuestInfo]
    ) -> None:
        """Show a host's connection state, identity, guests and consolidation."""
        self.label.setText(label)
        self.state_badge.set_state(status.state.label, HOST_COLORS[status.state])
        reason = connection_reason(status)
        self.reason_label.setText(reason)
        self.reason_label.setStyleSheet(
            f"color: {RED_COLOR};" if status.state == ConnectionState.FAILED else MUTED_STYLE
        )
        self.reason_label.setVisible(bool(reason))

        self.uri_label.setText(info.uri if info else status.uri)
        self.insecure_label.setVisible(info is not None and not info.secure)
        unknown = "—" if info is None else "unknown"
        self.hostname_label.setText(info.hostname if info and info.hostname else unknown)
        if info is not None and info.hypervisor:
            self.hypervisor_label.setText(f"{info.hypervisor} {info.hypervisor_version}".strip())
        else:
            self.hypervisor_label.setText(unknown)
        self.libvirt_label.setText(
            info.libvirt_version if info and info.libvirt_version else unknown
        )
        if info is not None and not info.capabilities_known:
            self.arch_label.setText(info.arch or "probing…")
            self.cpu_model_label.setText("probing…")
        else:
            self.arch_label.setText(info.arch if info and info.arch else unknown)
            self.cpu_model_label.setText(info.cpu_model if info and info.cpu_model else unknown)
        self.cpus_label.setText(str(info.cpus) if info and info.cpus else unknown)
        self.memory_label.setText(format_kib(info.memory_kib) if info else unknown)

        self.guests_total_label.setText(plural(len(guests), "guest"))
        self.guest_states_label.setText(guest_state_summary(guests))

        self._consolidation.setVisible(info is not None)
        if info is not None:
            self._show_consolidation(info, guests)

    def _show_consolidation(self, info: HostInfo, guests: list[GuestInfo]) -> None:
        cons = consolidation(info, guests)
        self.consolidation_caption.setText(
            f"What the {plural(cons.active_guests, 'active guest')} commit on this host "
            "(running, paused or suspended)."
        )
        vcpu_text, memory_text, defined_text = consolidation_texts(cons)
        self.vcpu_bar.set_value(vcpu_text, cons.vcpu_ratio, vcpu_color(cons.vcpu_ratio))
        self.memory_bar.set_value(memory_text, cons.memory_ratio, memory_color(cons.memory_ratio))
        self.defined_label.setText(defined_text)


class HostDetailsPresenter(QObject):
    """Shows one host in a :class:`HostDetailsPane` and keeps it current.

    Args:
        pane: the pane.
        controller: the hosts (statuses, identities and guest lists, as last reported).
    """

    def __init__(
        self, pane: HostDetailsPane, controller: HostController, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self._pane = pane
        self._controller = controller
        self._uri = ""
        controller.statusChanged.connect(self._on_controller_status_changed)
        controller.hostInfoChanged.connect(self._on_controller_host_info_changed)
        controller.guestsReset.connect(self._on_controller_guests_reset)
        controller.guestChanged.connect(self._on_controller_guest_changed)
        controller.guestRemoved.connect(self._on_controller_guest_removed)

    @property
    def uri(self) -> str:
        """The host shown ("" for none)."""
        return self._uri

    def show(self, uri: str) -> None:
        """Show ``uri`` from now on ("" or an unknown host: stop following any)."""
        self._uri = uri if uri in self._controller.uris() else ""
        self._refresh(self._uri)

    def _refresh(self, uri: str) -> None:
        if not uri or uri != self._uri or uri not in self._controller.uris():
            return
        host = self._controller.host(uri)
        guests = list(host.guests.values())
        self._pane.show_host(self._controller.label(uri), host.status, host.host_info, guests)

    def _on_controller_status_changed(self, status: HostStatus) -> None:
        self._refresh(status.uri)

    def _on_controller_host_info_changed(self, info: HostInfo) -> None:
        self._refresh(info.uri)

    def _on_controller_guests_reset(self, uri: str, _guests: list[GuestInfo]) -> None:
        self._refresh(uri)

    def _on_controller_guest_changed(self, guest: GuestInfo) -> None:
        self._refresh(guest.host_uri)

    def _on_controller_guest_removed(self, uri: str, _uuid: str) -> None:
        self._refresh(uri)
