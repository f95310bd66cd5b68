"""A host that really lacks a cgroup controller: a private libvirtd whose mount namespace has no
``cpu`` hierarchy (:class:`tests.integration.nocpuhost.NoCpuHost`; the shared daemon is not
touched). Its guest's CPU weight and cap cannot be read or set: vmgui reads the rest, marks the
CPU limits unavailable, and refuses a CPU cap with a message naming the controller — in the
service and in ``vmgui-cli limits`` — while the other limits still apply."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator

import libvirt
import pytest

from tests.integration.helpers import Run, connect
from tests.integration.nocpuhost import NoCpuHost
from tests.services.common import ServiceUnavailableError
from tests.services.secondhost import open_connection
from vmgui.cli import main as cli_main
from vmgui.core.errors import VmguiError
from vmgui.core.limits import LimitChange, Scope
from vmgui.virt.limits import apply_limits, fetch_limits

pytestmark = pytest.mark.integration

GUEST = "vmgui-iso-nocpu-guest"
#: A guest that only has to run: no disk, no NIC (its BIOS finds nothing to boot and waits).
GUEST_XML = f"""<domain type='qemu'>
  <name>{GUEST}</name>
  <memory unit='MiB'>32</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
  <devices><memballoon model='none'/></devices>
</domain>"""


@pytest.fixture(scope="module")
def nocpu() -> Iterator[tuple[NoCpuHost, str]]:
    """The host and its running guest's UUID; both removed afterwards, also on failure."""
    try:
        host = NoCpuHost.start_here()
    except ServiceUnavailableError as exc:
        pytest.fail(f"a host without the cgroup cpu controller could not start: {exc}")
    try:
        conn = open_connection(host.uri_tcp)
        try:
            dom = conn.defineXML(GUEST_XML)
            dom.create()
            yield host, dom.UUIDString()
            with contextlib.suppress(libvirt.libvirtError):
                dom.destroy()
            with contextlib.suppress(libvirt.libvirtError):
                dom.undefine()
        finally:
            conn.close()
    finally:
        host.stop()


def test_cpu_cap_refused_naming_the_missing_controller(
    nocpu: tuple[NoCpuHost, str], mrun: Run, capsys: pytest.CaptureFixture[str]
) -> None:
    host_, uuid = nocpu
    host, _rec = connect(mrun, host_.uri_tcp)
    try:
        view = mrun(fetch_limits(host, uuid))
        assert view.running and view.live is not None
        assert "cgroup 'cpu' controller is missing" in view.live.cpu_unavailable
        assert "CPU controller is not mounted" in view.live.cpu_unavailable, "libvirt's words"
        assert not view.live.memory_unavailable

        with pytest.raises(VmguiError) as caught:
            mrun(apply_limits(host, uuid, LimitChange(cpu_cap_percent=20)))
        assert "cgroup 'cpu' controller is missing" in str(caught.value)
        after = mrun(fetch_limits(host, uuid))
        # Every limit as before (the guest's resident memory moves by itself meanwhile).
        assert dataclasses.replace(after, memory_used_kib=view.memory_used_kib) == view

        status = cli_main(["limits", "--connect", host_.uri_tcp, GUEST, "--cpu-cap", "20"])
        err = capsys.readouterr().err
        # (qemu+tcp adds its "not encrypted" warning line first)
        errors = [line for line in err.splitlines() if not line.startswith("vmgui-cli: warning:")]
        assert status == 1 and len(errors) == 1, err
        assert "cgroup 'cpu' controller is missing" in errors[0] and "Traceback" not in err

        # What the host has still applies: a memory soft limit, live.
        soft = 64 * 1024
        applied = mrun(
            apply_limits(host, uuid, LimitChange(memory_soft_limit_kib=soft), Scope.LIVE)
        )
        assert applied.view.live is not None
        assert applied.view.live.memory_soft_limit_kib == soft
    finally:
        mrun(host.close())
