"""``vmgui-cli place`` on the real daemons: a busy guest on the main host, none on the second
host (same machine, so the same node figures): placement prefers the idle one.

The busy guest is a tiny ``vmgui-iso-*`` guest spinning its one vCPU (see ``isoguest.py``);
it is removed after the module, also when a test fails.
"""

from __future__ import annotations

import json
import re

import pytest

from tests.integration.isoguest import IsoGuest
from tests.integration.isoguest import busy_guest as busy_guest
from tests.integration.lab import Lab
from tests.services.fixtures import second_host as second_host
from tests.services.secondhost import SecondHost
from vmgui.cli import main as cli_main

pytestmark = pytest.mark.integration


def _idle_percent(reason: str) -> int:
    found = re.search(r"CPU (\d+) % idle over 3 s", reason)
    assert found, reason
    return int(found[1])


def test_place_prefers_the_idle_host(
    busy_guest: IsoGuest, lab: Lab, second_host: SecondHost, capsys: pytest.CaptureFixture[str]
) -> None:
    status = cli_main(
        [
            "place",
            "--connect", lab.uri,
            "--connect", second_host.uri_tcp,
            "--vcpus", "1",
            "--memory", "128",
            "--json",
        ]
    )  # fmt: skip
    out, err = capsys.readouterr()
    assert status == 0, err
    first, second = json.loads(out)["hosts"]
    assert (first["uri"], second["uri"]) == (second_host.uri_tcp, lab.uri), out
    assert first["fits"] and second["fits"] and first["score"] > second["score"]
    # The busy guest keeps one of the two host CPUs busy: the main host's guests use about
    # half of them, the second host's none (the node's own counters would say the same of both).
    assert _idle_percent(first["reason"]) >= 90, first
    assert _idle_percent(second["reason"]) <= 70, second
