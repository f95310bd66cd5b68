"""``vmgui-cli provision --count N --name 'web-{n}'`` on the test driver.

Refusals go through ``main`` (they come before any upload). The runs themselves go through
:func:`run_batch` with an engine whose uploader only creates volumes (the test driver has no
streams), parsed from the real argument parser.
"""

from __future__ import annotations

import asyncio
import json
import struct
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.conftest import fixture_uri
from tests.testdriver.helpers import CreateOnlyUploader
from vmgui.cli import build_parser, main
from vmgui.cli.provision import run_batch
from vmgui.core.errors import VmguiError
from vmgui.core.provisioning import Step
from vmgui.virt.batch import BatchProvisioner, BatchStepRunner
from vmgui.virt.connection import HostConnection, NullObserver

Run = Callable[..., Any]
T = TypeVar("T")


@pytest.fixture
def image(tmp_path: Path) -> Path:
    header = bytearray(64 * 1024)
    header[:4] = b"QFI\xfb"
    struct.pack_into(">I", header, 4, 3)
    struct.pack_into(">Q", header, 24, 1 << 30)
    path = tmp_path / "tiny.qcow2"
    path.write_bytes(bytes(header))
    return path


@pytest.fixture
def host(arun: Run) -> Iterator[HostConnection]:
    conn = HostConnection(fixture_uri(), NullObserver(), keepalive=None)
    arun(conn.connect())
    yield conn
    arun(conn.close())


def _argv(image: Path, *extra: str) -> list[str]:
    return [
        "provision", "--connect", fixture_uri(), "--image", str(image), "--virt-type", "qemu",
        "--pool", "default-pool", "--memory", "256", "--vcpus", "1", *extra,
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (["--count", "3", "--name", "web"], "needs {n}"),
        (["--count", "3", "--name", "web-{n}-{id}"], "stray '{'"),
        (["--count", "101", "--name", "web-{n}"], "1 to 100 guests (got 101)"),
        (["--count", "3", "--name", "guest-0{n}"], "guest-01 already exists"),
        (["--count", "20", "--name", "w{n}", "--memory", "4096"], "need 80.0 GiB of memory"),
    ],
)
def test_refusals_are_one_line(
    capsys: pytest.CaptureFixture[str], image: Path, extra: list[str], words: str
) -> None:
    assert main(_argv(image, *extra)) == 1
    err = capsys.readouterr().err
    assert err.startswith("vmgui-cli: ") and err.count("\n") == 1
    assert words in err


def test_spread_refusals_are_one_line(capsys: pytest.CaptureFixture[str], image: Path) -> None:
    other = fixture_uri("placement-b.xml")
    cases = [
        (["--connect", other, "--count", "2", "--name", "w{n}"], "need --spread"),
        (["--connect", other, "--spread", "--count", "40", "--name", "w{n}", "--sample", "0"],
         "40 guests do not fit on the hosts together"),
    ]  # fmt: skip
    for extra, words in cases:
        assert main(_argv(image, *extra)) == 1
        err = capsys.readouterr().err
        assert err.startswith("vmgui-cli: ") and err.count("\n") == 1, err
        assert words in err


def _engine(host: HostConnection, runner: BatchStepRunner | None = None) -> BatchProvisioner:
    return BatchProvisioner({host.uri: host}, uploader=CreateOnlyUploader(), step_runner=runner)


def test_a_batch_prints_a_line_per_guest_and_a_summary(
    arun: Run, host: HostConnection, image: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = build_parser().parse_args(_argv(image, "--count", "4", "--name", "web-{n}"))
    assert arun(run_batch(args, _engine(host), host.uri)) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[:4] == [f"{n:>3} web-{n}  running" for n in range(1, 5)]
    assert lines[4].startswith(f"4 guests made on {host.uri} in ")

    args = build_parser().parse_args(_argv(image, "--count", "2", "--name", "db-{n}", "--json"))
    assert arun(run_batch(args, _engine(host), host.uri)) == 0
    data = json.loads(capsys.readouterr().out)
    assert [(g["name"], g["state"], g["started"]) for g in data["guests"]] == [
        ("db-1", "finished", True),
        ("db-2", "finished", True),
    ]
    assert data["made"] == 2 and len({g["uuid"] for g in data["guests"]}) == 2


class FailAt:
    def __init__(self, index: int, step: Step, task: list[asyncio.Task[Any]] | None = None):
        self.index, self.step, self.task = index, step, task

    async def __call__(self, index: int, step: Step, run: Callable[[], Awaitable[T]]) -> T:
        if (index, step) == (self.index, self.step):
            if self.task is None:
                raise RuntimeError("injected failure")
            self.task[0].cancel()  # what asyncio.run does on Ctrl-C
        return await run()


def test_keep_and_failure(
    arun: Run, host: HostConnection, image: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = build_parser().parse_args(_argv(image, "--count", "5", "--name", "w-{n}", "--keep"))
    with pytest.raises(VmguiError) as info:
        arun(run_batch(args, _engine(host, FailAt(4, Step.START)), host.uri))
    assert str(info.value).startswith("3 of 5 made; w-4 failed at start")
    assert "the 3 finished guests were kept" in str(info.value)
    out = capsys.readouterr().out.splitlines()
    assert out[:3] == [f"{n:>3} w-{n}  running" for n in range(1, 4)]
    assert out[3].startswith("  4 w-4  failed at start: ")


def test_ctrl_c_rolls_back_and_exits_130(
    arun: Run, host: HostConnection, image: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = build_parser().parse_args(_argv(image, "--count", "6", "--name", "c-{n}"))
    task: list[asyncio.Task[Any]] = []

    async def go() -> Any:
        task.append(
            asyncio.ensure_future(
                run_batch(args, _engine(host, FailAt(3, Step.DEFINE, task)), host.uri)
            )
        )
        return await task[0]

    assert arun(go()) == 130
    err = capsys.readouterr().err
    assert err == (
        "vmgui-cli: 0 of 6 made; cancelled; "
        "every guest this run made was removed (nothing was left behind)\n"
    )
    names = arun(host.call(lambda c: [d.name() for d in c.listAllDomains(0)], "names"))
    assert not any(n.startswith("c-") for n in names)
