"""The one error type services raise, with a summary for people and details for logs."""

from __future__ import annotations


class VmguiError(Exception):
    """A failure a user should see.

    Attributes:
        summary: one sentence: what happened, naming the guest or host.
        details: the underlying cause (libvirt's message, a traceback summary).
        hint: what to do about it, or "".
        not_found: True when the object (guest, volume) no longer exists.
    """

    def __init__(
        self, summary: str, details: str = "", hint: str = "", *, not_found: bool = False
    ) -> None:
        super().__init__(summary)
        self.summary = summary
        self.details = details
        self.hint = hint
        self.not_found = not_found

    def __str__(self) -> str:
        parts = [self.summary]
        if self.details:
            parts.append(self.details)
        if self.hint:
            parts.append(self.hint)
        return ": ".join(parts[:2]) + (f" ({self.hint})" if self.hint else "")
