"""The summary's placement line: the chosen host re-checked with the final sizes, or the
batch spread over the hosts (which writes ``WizardState.assignment``)."""

from __future__ import annotations

from PySide6.QtWidgets import QWidget

from vmgui.core.placement import SpreadError, spread
from vmgui.core.units import plural
from vmgui.ui.wizard.common import MessageLabel
from vmgui.ui.wizard.context import WizardContext

CHECKING_TEXT = "Checking that the hosts have room…"


class PlacementNote(MessageLabel):
    """One line on the summary page: whether the guest(s) fit where they are going.

    A host that cannot take the guest(s) is said in red (the run may still be started: the
    figures are advice). With "spread" on, a batch is assigned over the hosts here and
    ``state.assignment`` written; it stays empty (all on the chosen host) otherwise, or when
    the batch does not fit on the hosts together (said in red).

    Args:
        ctx: the wizard's shared state.
        parent: the summary page.
    """

    def __init__(self, ctx: WizardContext, parent: QWidget | None = None) -> None:
        super().__init__("placementNote", parent)
        self.ctx = ctx
        self._generation = 0

    def refresh(self) -> None:
        """Re-check with the state as it is now: at once from the facts the host page read,
        then again with fresh ones (the chosen pool, the image's presence)."""
        self._generation += 1
        self._present(provisional=True)
        self.ctx.spawn(self._check(self._generation))

    async def _check(self, generation: int) -> None:
        await self.ctx.placement.rank_hosts(self.ctx.state)
        if generation == self._generation:
            self._present(provisional=False)

    def _present(self, *, provisional: bool) -> None:
        state, advisor = self.ctx.state, self.ctx.placement
        state.assignment = ()
        batch = state.count > 1
        if state.spread and batch:
            ranking = advisor.rank_known(state, per_host=True)
            try:
                state.assignment = spread(ranking, advisor.request(state, per_host=False))
            except SpreadError as exc:
                if provisional:
                    self.show_note(CHECKING_TEXT)
                else:
                    self.show_error(f"{exc}. Make the guests smaller or fewer.")
                return
            counts = {uri: state.assignment.count(uri) for uri in dict.fromkeys(state.assignment)}
            where = ", ".join(
                f"{plural(n, 'guest')} on {self._label(u)}" for u, n in counts.items()
            )
            self.show_note(f"Spread over the hosts: {where}.")
            return
        ranking = advisor.rank_known(state, per_host=False)
        chosen = next((p for p in ranking if p.uri == state.uri), None)
        what = plural(state.count, "guest") if batch else "the guest"
        if chosen is None:
            self.show_note(CHECKING_TEXT if provisional else "")
        elif chosen.fits:
            self.show_note(f"{self._label(state.uri)} has room for {what}: {chosen.reason}.")
        else:
            self.show_error(
                f"{self._label(state.uri)} has no room for {what} now: {chosen.reason}."
            )

    def _label(self, uri: str) -> str:
        try:
            return self.ctx.controller.label(uri)
        except KeyError:
            return uri
