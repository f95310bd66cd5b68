"""The serial console's stream pump and SerialConsole on a scripted stream (no daemon needed).

What the real daemon rarely shows on demand: partial writes, a stream that would block
(``-2``), WRITABLE switched on only while something waits to be sent, the ends, and output
arriving before ``open`` resumed. Events are delivered from another thread, as libvirt's
event thread does; blocking calls run on a real :class:`~vmgui.virt.events.Worker`.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast

import libvirt
import pytest

from vmgui.core.model import GuestInfo, GuestState
from vmgui.virt import serial
from vmgui.virt.connection import HostConnection
from vmgui.virt.events import Worker

T = TypeVar("T")
Run = Callable[[Awaitable[T]], T]

READ = serial._READ_EVENTS
WRITE = serial._WRITE_EVENTS


class FakeStream:
    """A non-blocking stream: scripted recv results, a send that takes a few bytes at a time."""

    def __init__(self, reads: list[bytes | int | Exception], send_sizes: list[int]) -> None:
        self.reads = reads
        self.send_sizes = send_sizes  # bytes accepted per call; -2: would block
        self.sent = bytearray()
        self.masks: list[int] = []
        self.calls: list[str] = []

    def recv(self, _size: int) -> bytes | int:
        if not self.reads:
            return -2
        item = self.reads.pop(0)
        if isinstance(item, Exception):
            raise item
        return item

    def send(self, data: bytes) -> int:
        size = self.send_sizes.pop(0) if self.send_sizes else len(data)
        if size < 0:
            return size
        self.sent += data[:size]
        return min(size, len(data))

    def eventAddCallback(self, events: int, _cb: object, _opaque: object) -> None:
        self.masks.append(events)

    def eventUpdateCallback(self, events: int) -> None:
        self.masks.append(events)

    def eventRemoveCallback(self) -> None:
        self.calls.append("remove")
        raise _error("stream does not have a callback registered")

    def abort(self) -> None:
        self.calls.append("abort")


def _error(message: str) -> libvirt.libvirtError:
    libvirt.virResetLastError()  # the message comes from the argument, not a last error
    return libvirt.libvirtError(message)


class Sink:
    """What the pump hands to the loop, and on which thread."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.ends: list[str] = []
        self.threads: set[str] = set()

    def on_data(self, _pump: object, data: bytes) -> None:
        self.threads.add(threading.current_thread().name)
        self.data += data

    def on_end(self, _pump: object, reason: str) -> None:
        self.threads.add(threading.current_thread().name)
        self.ends.append(reason)


def _event(pump: serial._Pump, stream: FakeStream, events: int) -> None:
    """Deliver one event from another thread, like libvirt's event thread."""
    thread = threading.Thread(target=pump._on_event, args=(stream, events, None), name="events")
    thread.start()
    thread.join()


async def _settle() -> None:
    for _ in range(3):
        await asyncio.sleep(0)


def _pump(arun: Run[Any], stream: FakeStream, sink: Sink) -> serial._Pump:
    async def make() -> serial._Pump:
        pump = serial._Pump(asyncio.get_running_loop(), sink.on_data, sink.on_end)
        pump.attach(stream)
        return pump

    pump = arun(make())
    assert isinstance(pump, serial._Pump)
    return pump


def test_reads_everything_then_ends_after_the_last_data(arun: Run[Any]) -> None:
    stream = FakeStream([b"boot ", b"log", -2, b"more", b""], [])
    sink = Sink()
    pump = _pump(arun, stream, sink)
    _event(pump, stream, libvirt.VIR_STREAM_EVENT_READABLE)
    arun(_settle())
    assert bytes(sink.data) == b"boot log"
    assert sink.ends == []
    _event(pump, stream, libvirt.VIR_STREAM_EVENT_READABLE)
    arun(_settle())
    assert bytes(sink.data) == b"boot logmore"
    assert sink.ends == [serial.GUEST_STOPPED]
    assert sink.threads == {threading.current_thread().name}  # the loop's thread only
    assert stream.masks[-1] == 0  # muted: a stream at its end does not spin the loop
    _event(pump, stream, libvirt.VIR_STREAM_EVENT_READABLE)
    arun(_settle())
    assert sink.ends == [serial.GUEST_STOPPED]  # once


def test_partial_writes_and_would_block_keep_the_rest_queued(arun: Run[Any]) -> None:
    stream = FakeStream([], [3, -2, 2, 100])
    sink = Sink()
    pump = _pump(arun, stream, sink)
    assert stream.masks == [READ]
    assert pump.queue(b"echo hi\r")  # the worker must add WRITABLE
    assert not pump.queue(b"!")  # already asked
    pump.arm_writable()
    assert stream.masks[-1] == WRITE
    _event(pump, stream, libvirt.VIR_STREAM_EVENT_WRITABLE)  # 3 bytes, then -2
    assert bytes(stream.sent) == b"ech"
    assert stream.masks[-1] == WRITE  # still waiting to write
    assert not pump.queue(b"?")  # WRITABLE is on: nothing to ask
    _event(pump, stream, libvirt.VIR_STREAM_EVENT_WRITABLE)  # 2 bytes, then the rest
    assert bytes(stream.sent) == b"echo hi\r!?"
    assert stream.masks[-1] == READ  # drained: WRITABLE off again
    assert pump.queue(b"x")  # so the next send asks again
    pump.arm_writable()
    assert stream.masks[-1] == WRITE


def test_a_kick_with_nothing_left_to_send_does_not_arm(arun: Run[Any]) -> None:
    stream = FakeStream([], [])
    pump = _pump(arun, stream, Sink())
    assert pump.queue(b"ls\r")
    _event(pump, stream, libvirt.VIR_STREAM_EVENT_READABLE)  # written on the way
    assert bytes(stream.sent) == b"ls\r"
    pump.arm_writable()  # the kick arrives late
    assert stream.masks == [READ]


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        ("stream had I/O failure", serial.TAKEN_OVER),
        ("cannot write to stream: Broken pipe", "the serial console failed: cannot write"),
    ],
)
def test_a_failed_stream_ends_with_its_reason(arun: Run[Any], message: str, reason: str) -> None:
    stream = FakeStream([b"last words", _error(message)], [])
    sink = Sink()
    pump = _pump(arun, stream, sink)
    _event(pump, stream, libvirt.VIR_STREAM_EVENT_READABLE)
    arun(_settle())
    assert bytes(sink.data) == b"last words"
    assert len(sink.ends) == 1
    assert sink.ends[0].startswith(reason)
    assert not pump.queue(b"x")  # nothing is queued on an ended stream


def test_stopped_pump_mutes_itself_and_detach_tolerates_a_dead_stream(arun: Run[Any]) -> None:
    stream = FakeStream([b"late"], [])
    sink = Sink()
    pump = _pump(arun, stream, sink)
    pump.stop()
    _event(pump, stream, libvirt.VIR_STREAM_EVENT_READABLE)
    arun(_settle())
    assert sink.data == b""
    assert sink.ends == []
    assert stream.masks[-1] == 0
    pump.detach()
    assert stream.calls == ["remove", "abort"]  # abort even though the removal failed
    pump.detach()
    assert stream.calls == ["remove", "abort"]  # idempotent


class EagerStream(FakeStream):
    """Delivers its first event (from another thread) as soon as its callback is added."""

    def eventAddCallback(self, events: int, cb: Any, opaque: object) -> None:
        super().eventAddCallback(events, cb, opaque)
        thread = threading.Thread(target=cb, args=(self, libvirt.VIR_STREAM_EVENT_READABLE, opaque))
        thread.start()
        thread.join()


class FakeDomain:
    def __init__(self, error: libvirt.libvirtError | None = None) -> None:
        self.error = error
        self.flags: list[int] = []

    def openConsole(self, _dev: None, _stream: FakeStream, flags: int) -> None:
        self.flags.append(flags)
        if self.error is not None:
            raise self.error


class FakeHost:
    """HostConnection.call on a real Worker with a scripted connection."""

    def __init__(self, stream: FakeStream, domain: FakeDomain) -> None:
        self.stream = stream
        self.domain = domain
        self.worker = Worker("fake-host")

    def lookupByUUIDString(self, _uuid: str) -> FakeDomain:
        return self.domain

    def newStream(self, _flags: int) -> FakeStream:
        return self.stream

    async def call(self, fn: Callable[[Any], T], _summary: str, *, slow: bool = False) -> T:
        return await self.worker.run(lambda: fn(self))


class Observer:
    """A SerialObserver that keeps what it was told."""

    def __init__(self) -> None:
        self.received = bytearray()
        self.reasons: list[str] = []

    def data(self, chunk: bytes) -> None:
        self.received += chunk

    def closed(self, reason: str) -> None:
        self.reasons.append(reason)


def _console(host: FakeHost, observer: Observer) -> serial.SerialConsole:
    guest = GuestInfo("fake:///", "u-1", "web-01", GuestState.RUNNING, 1, 1024, 1024)
    return serial.SerialConsole(cast(HostConnection, host), guest, observer)


def test_output_and_end_before_open_resumes_are_kept(arun: Run[Any]) -> None:
    stream = EagerStream([b"boot log", b""], [])
    host = FakeHost(stream, FakeDomain())
    observer = Observer()
    console = _console(host, observer)

    async def scenario() -> None:
        await console.open()
        await _settle()
        await console.close()

    arun(scenario())
    host.worker.stop()
    assert bytes(observer.received) == b"boot log"
    assert observer.reasons == [serial.GUEST_STOPPED]
    assert not console.is_open
    assert stream.calls == ["remove", "abort"]


def test_busy_console_and_force(arun: Run[Any]) -> None:
    domain = FakeDomain(_error("operation failed: Active console session exists for this domain"))
    host = FakeHost(FakeStream([], []), domain)
    console = _console(host, Observer())
    with pytest.raises(serial.ConsoleBusyError) as busy:
        arun(console.open())
    assert busy.value.summary == "another client holds the serial console of web-01"
    assert [console.is_open] == [False]  # (a list: mypy would narrow the property for good)
    domain.error = None
    arun(console.open(force=True))
    assert console.is_open
    assert domain.flags == [0, libvirt.VIR_DOMAIN_CONSOLE_FORCE]
    arun(console.close())
    host.worker.stop()
