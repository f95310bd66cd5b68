"""The summary page: everything chosen, "start now", and the button that creates the guest(s)."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QFormLayout, QLabel, QVBoxLayout, QWizard

from vmgui.core.batch import pattern_names
from vmgui.core.osinfo import osinfo_display_name
from vmgui.core.provisioning import USER_NETWORK, VirtType
from vmgui.core.units import format_bytes, format_kib, plural
from vmgui.ui.widgets import muted_label
from vmgui.ui.wizard.common import WizardPage
from vmgui.ui.wizard.context import WizardContext
from vmgui.ui.wizard.placementnote import PlacementNote
from vmgui.ui.wizard.state import SourceKind, WizardState

CREATE_TEXT = "&Create Guest"


def summary_rows(
    state: WizardState, host_label: str, label: Callable[[str], str] = str
) -> list[tuple[str, str]]:
    """The summary as (label, text) rows.

    Args:
        state: the choices.
        host_label: the chosen host's name for people.
        label: a host's name for people by URI (a batch may use several hosts).
    """
    if state.is_batch:
        names = pattern_names(state.name_pattern, state.count)
        hosts = batch_hosts_text(state, label)
        keep = "keep the finished ones" if state.keep_finished else "remove all (all or none)"
        rows = [
            ("Hosts" if "," in hosts else "Host", hosts),
            ("Source", state.source_text()),
            ("Guests", f"{plural(state.count, 'guest')} {names[0]} … {names[-1]} on {hosts}"),
            ("If one fails", keep),
        ]
    else:
        rows = [("Host", host_label), ("Source", state.source_text()), ("Name", state.name)]
    os_name = ""
    if state.entry is not None and state.kind is SourceKind.CATALOG:
        os_name = osinfo_display_name(state.entry.osinfo)
    elif state.template is not None and state.kind is SourceKind.TEMPLATE:
        os_name = state.template.os_name
    if os_name:
        rows.append(("Operating system", os_name))
    if state.kind is SourceKind.TEMPLATE:
        rows.append(("Resources", "as the template; disks are copy-on-write overlays"))
    else:
        disk = (
            f"{state.volume.name} ({format_bytes(state.volume.capacity)})"
            if state.kind is SourceKind.VOLUME and state.volume is not None
            else f"{state.disk_gib} GiB {'blank disk' if state.is_iso else 'overlay'}"
        )
        rows.append(
            (
                "Resources",
                f"{plural(state.vcpus, 'vCPU')} · {format_kib(state.memory_mib * 1024)} "
                f"memory · {disk}",
            )
        )
        rows.append(("Storage pool", state.pool))
    rows.append(("First boot", _cloud_init_text(state)))
    if state.kind is not SourceKind.TEMPLATE:
        network = "user-mode networking" if state.network == USER_NETWORK else state.network
        virt = "KVM" if state.virt_type is VirtType.KVM else "emulated (QEMU TCG)"
        rows.append(("Network", network))
        rows.append(("Virtualization", virt))
    return rows


def batch_hosts_text(state: WizardState, label: Callable[[str], str]) -> str:
    """A batch's hosts: "node1" or "node1 (3), node2 (2)"."""
    uris = state.guest_uris()
    counts = {uri: uris.count(uri) for uri in dict.fromkeys(uris)}
    if len(counts) == 1:
        return label(uris[0])
    return ", ".join(f"{label(uri)} ({n})" for uri, n in counts.items())


def _cloud_init_text(state: WizardState) -> str:
    config = state.cloud_init if state.offers_cloud_init else None
    if config is None:
        if state.kind is SourceKind.TEMPLATE:
            return "as the template (its cloud-init seed, if any, is kept)"
        return "installer from the ISO" if state.is_iso else "no cloud-init seed"
    first = f"host name {config.hostname}"
    parts = ["each guest's host name from its name"] if state.is_batch else [first]
    parts.append(f"user {config.user}" if config.user else "the image's default user")
    if config.password_hash:
        parts.append("password set (hashed)")
    if config.ssh_keys:
        parts.append(plural(len(config.ssh_keys), "SSH key"))
    if config.packages:
        parts.append(f"packages: {' '.join(config.packages)}")
    return "cloud-init: " + ", ".join(parts)


class SummaryPage(WizardPage):
    """What will be made; the commit point (after it, Back is gone and the run starts)."""

    def __init__(self, ctx: WizardContext) -> None:
        super().__init__(ctx, "Summary", "Check the new guest, then create it.")
        self.setObjectName("summaryPage")
        self.setCommitPage(True)
        self.setButtonText(QWizard.WizardButton.CommitButton, CREATE_TEXT)
        self.form = QFormLayout()
        self.form.setVerticalSpacing(8)
        self.form.setHorizontalSpacing(20)
        self.form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.start_check = QCheckBox("&Start the guest when it is created")
        self.start_check.setObjectName("startCheck")
        self.start_check.setChecked(True)
        layout = QVBoxLayout(self)
        layout.addLayout(self.form)
        self.placement_note = PlacementNote(ctx)
        layout.addWidget(self.placement_note)
        layout.addSpacing(12)
        layout.addWidget(self.start_check)
        layout.addStretch(1)
        layout.addWidget(
            muted_label(
                "If a step fails or you cancel, everything this run created is removed again; "
                "a downloaded or uploaded base image is kept for the next guest."
            )
        )

    def initializePage(self) -> None:  # noqa: N802
        """Show the choices."""
        while self.form.rowCount():
            self.form.removeRow(0)
        for label, text in summary_rows(self.state, self.ctx.host_label(), self._label):
            value = QLabel(text)
            value.setWordWrap(True)
            value.setTextFormat(Qt.TextFormat.PlainText)
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            value.setObjectName(f"summary{label.replace(' ', '')}")
            title = QLabel(f"{label}:")
            title.setStyleSheet("font-weight: bold;")
            self.form.addRow(title, value)
        self.placement_note.refresh()

        many = self.state.is_batch
        self.setButtonText(
            QWizard.WizardButton.CommitButton,
            f"&Create {self.state.count} Guests" if many else CREATE_TEXT,
        )
        self.start_check.setText(
            "&Start the guests when they are created"
            if many
            else "&Start the guest when it is created"
        )

    def _label(self, uri: str) -> str:
        try:
            return self.ctx.controller.label(uri)
        except KeyError:
            return uri

    def validatePage(self) -> bool:  # noqa: N802
        """Remember "start now"."""
        self.state.start = self.start_check.isChecked()
        return True
