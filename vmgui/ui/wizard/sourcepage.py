"""The second page: where the guest's disk comes from."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QButtonGroup,
    QFrame,
    QGridLayout,
    QRadioButton,
    QStackedWidget,
    QVBoxLayout,
)

from vmgui.ui.wizard.common import WizardPage
from vmgui.ui.wizard.context import WizardContext
from vmgui.ui.wizard.filepanel import LocalFilePanel
from vmgui.ui.wizard.sourcepanels import (
    CatalogPanel,
    SourcePanel,
    TemplatePanel,
    VolumePanel,
)
from vmgui.ui.wizard.state import SourceKind

_GRID = (
    (SourceKind.CATALOG, 0, 0),
    (SourceKind.LOCAL, 1, 0),
    (SourceKind.ISO, 2, 0),
    (SourceKind.VOLUME, 0, 1),
    (SourceKind.TEMPLATE, 1, 1),
)


class SourcePage(WizardPage):
    """A choice of source kind over the panel that picks the source itself."""

    def __init__(self, ctx: WizardContext) -> None:
        super().__init__(
            ctx,
            "Source",
            "Choose what the new guest is made from.",
        )
        self.setObjectName("sourcePage")
        self.radios: dict[SourceKind, QRadioButton] = {}
        self.catalog_panel = CatalogPanel(ctx)
        self.local_panel = LocalFilePanel(ctx, iso=False)
        self.iso_panel = LocalFilePanel(ctx, iso=True)
        self.volume_panel = VolumePanel(ctx)
        self.template_panel = TemplatePanel(ctx)
        self.panels: dict[SourceKind, SourcePanel] = {
            SourceKind.CATALOG: self.catalog_panel,
            SourceKind.LOCAL: self.local_panel,
            SourceKind.ISO: self.iso_panel,
            SourceKind.VOLUME: self.volume_panel,
            SourceKind.TEMPLATE: self.template_panel,
        }
        self._group = QButtonGroup(self)
        grid = QGridLayout()
        grid.setHorizontalSpacing(24)
        grid.setVerticalSpacing(4)
        for kind, row, column in _GRID:
            radio = QRadioButton(kind.label)
            radio.setObjectName(f"source{kind.value.capitalize()}Radio")
            self.radios[kind] = radio
            self._group.addButton(radio)
            grid.addWidget(radio, row, column)
        grid.setColumnStretch(2, 1)
        self.stack = QStackedWidget()
        for panel in self.panels.values():
            self.stack.addWidget(panel)
            panel.changed.connect(self._on_panel_changed)
        line = QFrame()
        line.setFrameShape(QFrame.Shape.HLine)
        line.setFrameShadow(QFrame.Shadow.Sunken)
        layout = QVBoxLayout(self)
        layout.addLayout(grid)
        layout.addWidget(line)
        layout.addWidget(self.stack, 1)
        self.radios[SourceKind.CATALOG].setChecked(True)
        self._group.buttonToggled.connect(self._on_group_button_toggled)

    def kind(self) -> SourceKind:
        """The source kind chosen."""
        return next(k for k, r in self.radios.items() if r.isChecked())

    def panel(self) -> SourcePanel:
        """The panel of the chosen kind."""
        return self.panels[self.kind()]

    def set_kind(self, kind: SourceKind) -> None:
        """Choose a source kind (shows its panel)."""
        self.radios[kind].setChecked(True)
        self._show_panel()

    def initializePage(self) -> None:  # noqa: N802
        """Show the chosen kind's panel, loading its list for the chosen host."""
        self.radios[self.state.kind].setChecked(True)
        self._show_panel()

    def isComplete(self) -> bool:  # noqa: N802
        """The chosen kind's panel holds a usable choice."""
        return self.panel().is_ready()

    def validatePage(self) -> bool:  # noqa: N802
        """Write the choice into the state."""
        if not self.panel().is_ready():
            return False
        self.state.kind = self.kind()
        self.panel().apply(self.state)
        return True

    def _show_panel(self) -> None:
        panel = self.panel()
        self.stack.setCurrentWidget(panel)
        panel.activate()
        self.completeChanged.emit()

    def _on_group_button_toggled(self, _button: QRadioButton, checked: bool) -> None:
        if checked:
            self._show_panel()

    def _on_panel_changed(self) -> None:
        self.completeChanged.emit()
