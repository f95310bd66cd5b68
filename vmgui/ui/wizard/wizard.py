"""The new-guest wizard: host → source → name and resources → cloud-init → network →
summary → progress.

The pages gather a :class:`~vmgui.ui.wizard.state.WizardState`; the summary page is the commit
point; the progress page shows the engine's run, which the wizard owns as one asyncio task:
Cancel cancels it (the engine rolls back) and the wizard stays open to say so. On success the
wizard emits :attr:`NewGuestWizard.guestCreated` (once per guest of a batch) and closes.
A batch (``count`` > 1) runs on the batch engine over each guest's host (the placement's
``assignment``, else the chosen host) with one progress row per guest.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from typing import Any

import shiboken6
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QWidget, QWizard

from vmgui.core.batch import BatchError, BatchPlan, BatchResult
from vmgui.core.catalog import load_catalog
from vmgui.core.errors import VmguiError
from vmgui.core.provisioning import ProvisionError, ProvisionResult
from vmgui.core.validation import ValidationError
from vmgui.ui.controller import HostController
from vmgui.ui.shell import UsageLink
from vmgui.ui.wizard.cloudinitpage import CloudInitPage
from vmgui.ui.wizard.context import CatalogLoader, WizardContext
from vmgui.ui.wizard.hostpage import HostPage
from vmgui.ui.wizard.networkpage import NetworkPage
from vmgui.ui.wizard.progress import ProgressPage
from vmgui.ui.wizard.resources import ResourcesPage
from vmgui.ui.wizard.sourcepage import SourcePage
from vmgui.ui.wizard.state import (
    BatchEngineFactory,
    CloneRequest,
    DefaultEngine,
    EngineFactory,
    Request,
    SourceKind,
    build_batch,
    build_request,
    default_batch_engine,
    steps_for,
)
from vmgui.ui.wizard.summary import SummaryPage
from vmgui.virt.connection import HostConnection
from vmgui.virt.download import Downloader

_log = logging.getLogger(__name__)

CHANGE_TEXT = "Change &Settings"


class PageId(enum.IntEnum):
    """The wizard's pages, in order."""

    HOST = 0
    SOURCE = 1
    RESOURCES = 2
    CLOUD_INIT = 3
    NETWORK = 4
    SUMMARY = 5
    PROGRESS = 6


class RunState(enum.Enum):
    """Where the provisioning run stands."""

    IDLE = "idle"
    RUNNING = "running"
    CANCELLING = "cancelling"
    FAILED = "failed"
    CANCELLED = "cancelled"
    DONE = "done"


_FORM_BUTTONS = [
    QWizard.WizardButton.Stretch,
    QWizard.WizardButton.BackButton,
    QWizard.WizardButton.NextButton,
    QWizard.WizardButton.CommitButton,
    QWizard.WizardButton.FinishButton,
    QWizard.WizardButton.CancelButton,
]
_PROGRESS_BUTTONS = [
    QWizard.WizardButton.Stretch,
    QWizard.WizardButton.CustomButton1,
    QWizard.WizardButton.CancelButton,
]


class NewGuestWizard(QWizard):
    """Creates a guest from an OS image, a file, a volume or a template.

    Signals:
        guestCreated(ProvisionResult): the guest exists (and runs, if asked); emitted just
            before the wizard closes.

    Args:
        controller: the hosts (only connected ones can be chosen).
        initial_uri: the host to preselect, or "".
        template_uuid: start on the source page with this template of ``initial_uri``
            chosen ("New Guest from Template").
        provisioner_factory: makes the engine for a host (tests pass a fake).
        batch_factory: makes the batch engine over hosts by URI.
        catalog_loader: reads the image catalog (blocking; runs on a thread).
        downloader: where downloaded images are cached (for the "downloaded" mark).
        usage: the hosts' measured usage, for placement advice (None: not measured).
        parent: the parent widget (the main window).
    """

    guestCreated = Signal(ProvisionResult)

    def __init__(
        self,
        controller: HostController,
        *,
        initial_uri: str = "",
        template_uuid: str = "",
        provisioner_factory: EngineFactory = DefaultEngine,
        batch_factory: BatchEngineFactory = default_batch_engine,
        catalog_loader: CatalogLoader = load_catalog,
        downloader: Downloader | None = None,
        usage: UsageLink | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("newGuestWizard")
        self.setWindowTitle("New Guest")
        self.setWizardStyle(QWizard.WizardStyle.ModernStyle)
        self.setOption(QWizard.WizardOption.NoBackButtonOnStartPage, True)
        self.setOption(QWizard.WizardOption.HaveCustomButton1, True)
        self.setButtonText(QWizard.WizardButton.CustomButton1, CHANGE_TEXT)
        self.setMinimumSize(760, 620)
        self.ctx = WizardContext(
            controller, provisioner_factory, catalog_loader, downloader, usage=usage
        )
        self.run_state = RunState.IDLE
        self.batch_factory = batch_factory
        self.created: ProvisionResult | None = None
        self.created_batch: BatchResult | None = None
        self.error: VmguiError | None = None
        self._run_task: asyncio.Task[Any] | None = None

        self.host_page = HostPage(self.ctx, initial_uri)
        self.source_page = SourcePage(self.ctx)
        self.resources_page = ResourcesPage(self.ctx)
        self.cloud_init_page = CloudInitPage(self.ctx)
        self.network_page = NetworkPage(self.ctx)
        self.summary_page = SummaryPage(self.ctx)
        self.progress_page = ProgressPage(self.ctx)
        for page_id, page in (
            (PageId.HOST, self.host_page),
            (PageId.SOURCE, self.source_page),
            (PageId.RESOURCES, self.resources_page),
            (PageId.CLOUD_INIT, self.cloud_init_page),
            (PageId.NETWORK, self.network_page),
            (PageId.SUMMARY, self.summary_page),
            (PageId.PROGRESS, self.progress_page),
        ):
            self.setPage(page_id, page)
        if template_uuid and initial_uri:
            self.ctx.state.uri = initial_uri
            self.ctx.state.kind = SourceKind.TEMPLATE
            self.source_page.template_panel.preferred = template_uuid
            self.setStartId(PageId.SOURCE)
            self.ctx.prefetch()
        self.setButtonLayout(_FORM_BUTTONS)
        self.currentIdChanged.connect(self._on_wizard_current_id_changed)
        self.customButtonClicked.connect(self._on_wizard_custom_button_clicked)

    # -- navigation -------------------------------------------------------------------------

    def nextId(self) -> int:  # noqa: N802
        """Skip cloud-init for installers, and the network page for template clones."""
        current = self.currentId()
        state = self.ctx.state
        template = state.kind is SourceKind.TEMPLATE
        if current == PageId.RESOURCES:
            if state.offers_cloud_init:
                return PageId.CLOUD_INIT
            return PageId.SUMMARY if template else PageId.NETWORK
        if current == PageId.CLOUD_INIT:
            return PageId.SUMMARY if template else PageId.NETWORK
        if current == PageId.PROGRESS:
            return -1
        return super().nextId()

    def _on_wizard_current_id_changed(self, page_id: int) -> None:
        progress = page_id == PageId.PROGRESS
        self.setButtonLayout(_PROGRESS_BUTTONS if progress else _FORM_BUTTONS)
        self.button(QWizard.WizardButton.CustomButton1).setVisible(False)
        self.setButtonText(QWizard.WizardButton.CancelButton, "&Cancel")
        if progress:
            self._start_run()

    def _on_wizard_custom_button_clicked(self, which: int) -> None:
        if which == QWizard.WizardButton.CustomButton1.value and self.run_state in (
            RunState.FAILED,
            RunState.CANCELLED,
        ):
            self.run_state = RunState.IDLE
            self.back()

    # -- the run ----------------------------------------------------------------------------

    def _start_run(self) -> None:
        if self.ctx.state.is_batch:
            self._start_batch()
            return
        try:
            request = build_request(self.ctx.state)
        except ValueError as exc:  # the pages prevent this
            self._failed(VmguiError("The wizard lacks a choice", str(exc)))
            return
        self.created = None
        self.error = None
        self.run_state = RunState.RUNNING
        self.progress_page.begin(steps_for(request), self.ctx.state.name)
        self._run_task = self.ctx.spawn(self._run(request))

    async def _run(self, request: Request) -> None:
        page = self.progress_page
        try:
            engine = self.ctx.engine_factory(self.ctx.host())
            if isinstance(request, CloneRequest):
                result = await engine.clone(request, page.on_progress)
            else:
                result = await engine.provision(request, page.on_progress)
        except asyncio.CancelledError:
            self._cancelled()
            raise
        except ProvisionError as exc:
            self._failed(exc)
            return
        except VmguiError as exc:
            self._failed(exc)
            return
        except KeyError:
            self._failed(VmguiError("The host was removed", self.ctx.state.uri))
            return
        finally:
            self._run_task = None
        self._succeeded(result)

    def _start_batch(self) -> None:
        state = self.ctx.state
        self.created = self.created_batch = None
        self.error = None
        try:
            plan = build_batch(state)
            hosts = {uri: self.ctx.controller.host(uri) for uri in plan.uris}
            labels = {uri: self.ctx.controller.label(uri) for uri in plan.uris}
        except (ValueError, ValidationError) as exc:  # the pages prevent these
            self._failed(VmguiError("The wizard lacks a choice", str(exc)))
            return
        except KeyError as exc:
            self._failed(VmguiError("The host was removed", str(exc)))
            return
        self.run_state = RunState.RUNNING
        self.progress_page.begin_batch(plan, labels)
        self._run_task = self.ctx.spawn(self._run_batch(plan, hosts))

    async def _run_batch(self, plan: BatchPlan, hosts: dict[str, HostConnection]) -> None:
        page = self.progress_page
        run = self.batch_factory(hosts).start(plan, page.on_batch_progress)
        try:
            result = await run.execute()
        except asyncio.CancelledError:
            self._batch_ended(None, run.result)
            raise
        except BatchError as exc:
            self._batch_ended(exc, exc.result)
            return
        except VmguiError as exc:
            self._batch_ended(exc, None)
            return
        finally:
            self._run_task = None
        if not shiboken6.isValid(self):
            return
        _log.info("%s in %.2f s", result.summary(), result.seconds)
        self.run_state = RunState.DONE
        self.created_batch = result
        self.created = result.made[0]
        page.show_batch_success(result)
        for made in result.made:
            self.guestCreated.emit(made)
        self.accept()

    def _batch_ended(self, error: VmguiError | None, result: BatchResult | None) -> None:
        _log.warning("batch ended: %s", result.summary() if result else error)
        if not shiboken6.isValid(self):
            return
        self.run_state = RunState.CANCELLED if error is None else RunState.FAILED
        self.error = error
        self.created_batch = result
        self.progress_page.show_batch_end(error, result)
        self._after_run()

    def _succeeded(self, result: ProvisionResult) -> None:
        if not shiboken6.isValid(self):  # the window closed meanwhile
            return
        _log.info("created %s on %s in %.2f s", result.name, result.host_uri, result.total_seconds)
        self.run_state = RunState.DONE
        self.created = result
        self.progress_page.show_success(result)
        self.guestCreated.emit(result)
        self.accept()

    def _failed(self, error: VmguiError) -> None:
        _log.warning("new guest failed: %s", error)
        if not shiboken6.isValid(self):
            return
        self.run_state = RunState.FAILED
        self.error = error
        self.progress_page.show_failure(error)
        self._after_run()

    def _cancelled(self) -> None:
        if not shiboken6.isValid(self):
            return
        self.run_state = RunState.CANCELLED
        self.progress_page.show_cancelled()
        self._after_run()

    def _after_run(self) -> None:
        change = self.button(QWizard.WizardButton.CustomButton1)
        change.setVisible(True)
        self.setButtonText(QWizard.WizardButton.CancelButton, "&Close")
        self.button(QWizard.WizardButton.CancelButton).setEnabled(True)

    def cancel_run(self) -> bool:
        """Cancel a running run (the engine rolls back); True if one was running."""
        if self.run_state is not RunState.RUNNING or self._run_task is None:
            return False
        self.run_state = RunState.CANCELLING
        self.progress_page.show_cancelling()
        self.button(QWizard.WizardButton.CancelButton).setEnabled(False)
        self._run_task.cancel()
        return True

    # -- closing ----------------------------------------------------------------------------

    def reject(self) -> None:
        """Cancel: stop a running run first (the wizard stays open to report the rollback)."""
        if self.run_state is RunState.RUNNING:
            self.cancel_run()
            return
        if self.run_state is RunState.CANCELLING:
            return
        self.ctx.cancel_all()
        super().reject()

    def accept(self) -> None:
        """Close after a successful run."""
        self.ctx.cancel_all()
        super().accept()
