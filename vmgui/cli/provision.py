"""``vmgui-cli provision``: a guest from an OS image, on the same engine as the wizard.

Each step's time is printed as it ends (:mod:`vmgui.virt.provision`). With ``--count N`` and a
name pattern (``--name 'web-{n}'``) it makes a batch (:mod:`vmgui.virt.batch`): one line per
guest as it ends, then a summary; all or none unless ``--keep``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from vmgui.cli.common import (
    Subparsers,
    add_connect,
    add_json,
    open_host,
    print_json,
    print_result,
    result_json,
    step_printer,
)
from vmgui.cli.place import DEFAULT_SAMPLE, image_of, spread_over
from vmgui.core.batch import (
    COUNTER,
    MAX_BATCH,
    BatchError,
    BatchPlan,
    BatchProgress,
    BatchProgressCallback,
    BatchResult,
    GuestPhase,
    make_batch,
)
from vmgui.core.catalog import ImageFormat, find_entry, load_catalog, read_image_info
from vmgui.core.cloudinit import CloudInitConfig, guest_hostname, hash_password
from vmgui.core.errors import VmguiError
from vmgui.core.placement import PlacementRequest
from vmgui.core.provisioning import (
    CatalogImage,
    ExistingVolume,
    LocalImage,
    ProvisionPlan,
    SeedDevice,
    Source,
    VirtType,
)
from vmgui.core.validation import ValidationError
from vmgui.virt.batch import BatchProvisioner
from vmgui.virt.connection import HostConnection
from vmgui.virt.provision import Provisioner

HELP_ORDER = 30


def add_parser(sub: Subparsers) -> None:
    """Add ``provision``."""
    prov = sub.add_parser("provision", help="create (and start) a guest from an OS image")
    add_connect(prov, repeatable=True)
    src = prov.add_mutually_exclusive_group(required=True)
    src.add_argument("--image", metavar="ID|PATH", help="catalog id, or a qcow2/raw/ISO file")
    src.add_argument("--volume", metavar="POOL/VOLUME", help="import an existing volume")
    prov.add_argument("--name", required=True, help="with --count: a pattern such as 'web-{n}'")
    prov.add_argument(
        "--count", type=int, default=1, metavar="N", help=f"make N guests (at most {MAX_BATCH})"
    )
    prov.add_argument(
        "--keep", action="store_true", help="batch: keep the finished guests if one fails"
    )
    prov.add_argument(
        "--spread",
        action="store_true",
        help="batch: spread the guests over every --connect host (placement advice)",
    )
    prov.add_argument(
        "--sample",
        type=float,
        default=DEFAULT_SAMPLE,
        metavar="SECONDS",
        help=f"--spread: measure the hosts' guests this long first (default {DEFAULT_SAMPLE:g})",
    )
    prov.add_argument("--vcpus", type=int, help="default: the image's")
    prov.add_argument("--memory", type=int, metavar="MiB", help="default: the image's")
    prov.add_argument("--disk", type=float, metavar="GiB", help="default: the image's")
    prov.add_argument("--virt-type", choices=[v.value for v in VirtType], default="auto")
    prov.add_argument("--network", default="default", help="a libvirt network, or 'user'")
    prov.add_argument("--pool", default="default")
    prov.add_argument("--pool-path", default="", help="create the pool here if it is missing")
    prov.add_argument("--user", default="", help="cloud-init: a user to create")
    prov.add_argument("--password-file", type=Path, help="cloud-init: the user's password")
    prov.add_argument("--ssh-key", action="append", default=[], help="a public key, or a .pub file")
    prov.add_argument("--package", action="append", default=[], help="install on first boot")
    prov.add_argument("--hostname", default="", help="default: from the name")
    prov.add_argument("--seed-device", choices=[s.value for s in SeedDevice], default="disk")
    prov.add_argument("--no-cloud-init", action="store_true", help="attach no seed")
    prov.add_argument("--serial-log", default="", help="a host file recording the console")
    prov.add_argument("--no-graphics", action="store_true")
    prov.add_argument("--no-start", action="store_true", help="define the guest only")
    add_json(prov, "print the result as JSON")
    prov.set_defaults(run=run_provision_verb)


async def run_provision_verb(args: argparse.Namespace) -> int:
    """``vmgui-cli provision`` on one ``--connect`` host, or ``--spread`` over several."""
    uris = list(dict.fromkeys(args.connect))
    if len(uris) > 1 and not args.spread:
        raise VmguiError("several --connect hosts need --spread (a batch placed over them)")
    if args.spread and args.volume:
        raise VmguiError("--spread needs --image (an existing volume is on one host)")
    hosts: list[HostConnection] = []
    try:
        for uri in uris:
            hosts.append(await open_host(uri, args.accept_host_key))
        if not args.spread:
            return await run_provision(args, hosts[0])
        plan = build_plan(args)
        request = PlacementRequest(
            plan.vcpus, plan.memory_mib, None if args.disk is None else args.disk, args.count
        )
        image = await image_of(args.image)
        assignment = await spread_over(
            hosts, request, image=image, pool=args.pool, sample=args.sample
        )
        engine = BatchProvisioner({host.uri: host for host in hosts})
        return await run_batch(args, engine, assignment)
    finally:
        for host in hosts:
            await host.close()


async def run_provision(args: argparse.Namespace, host: HostConnection) -> int:
    """``vmgui-cli provision`` on one host."""
    if args.count != 1 or COUNTER in args.name:
        return await run_batch(args, BatchProvisioner({host.uri: host}), host.uri)
    plan = build_plan(args)
    result = await Provisioner(host).provision(plan, step_printer(args.json))
    print_result(result, args.json)
    return 0


async def run_batch(
    args: argparse.Namespace, engine: BatchProvisioner, uris: str | tuple[str, ...]
) -> int:
    """``provision --count N --name PATTERN``: a batch on ``uris`` (one host for all, or each
    guest's); 130 when cancelled.

    Raises:
        VmguiError: a bad pattern or count, a plan that does not fit, or a failed guest (the
            lines of the guests that ended are printed first).
    """
    try:
        plan = make_batch(build_plan(args), args.name, args.count, uris, keep_finished=args.keep)
    except ValidationError as exc:
        raise VmguiError(exc.message) from None
    run = engine.start(plan, None if args.json else _guest_printer(plan))
    try:
        result = await run.execute()
    except asyncio.CancelledError:
        if run.result is not None:
            _print_batch(run.result, args.json, cancelled=True)
        return 130
    except BatchError as exc:
        if args.json:
            print_json(batch_json(exc.result))
        raise
    _print_batch(result, args.json)
    return 0


def _guest_printer(plan: BatchPlan) -> BatchProgressCallback:
    """Prints a line when a guest's run ends: "  3 web-3    running"."""
    width = max(len(item.name) for item in plan.items)

    def on_progress(p: BatchProgress) -> None:
        if p.index and p.phase.final:
            print(f"{p.index:>3} {plan.items[p.index - 1].name:<{width}}  {p.message}", flush=True)

    return on_progress


def _print_batch(result: BatchResult, as_json: bool, *, cancelled: bool = False) -> None:
    if as_json:
        print_json(batch_json(result))
    if cancelled:
        print(f"vmgui-cli: {result.summary()}", file=sys.stderr)
    elif not as_json:
        print(f"{result.summary()} in {result.seconds:.1f} s")


def batch_json(result: BatchResult) -> dict[str, object]:
    """A batch's outcome as plain JSON data: each guest, then the summary."""
    guests: list[dict[str, object]] = []
    for g in result.guests:
        entry: dict[str, object] = {
            "index": g.item.index,
            "name": g.item.name,
            "host": g.item.uri,
            "state": g.phase.value,
        }
        if g.result is not None and g.phase is GuestPhase.FINISHED:
            entry.update(result_json(g.result))
        if g.error:
            entry.update(step=g.step.value if g.step else None, error=g.error)
        guests.append(entry)
    return {
        "guests": guests,
        "made": len(result.made),
        "count": len(result.guests),
        "keep": result.keep_finished,
        "cancelled": result.cancelled,
        "summary": result.summary(),
        "seconds": round(result.seconds, 4),
        "shared_seconds": {s.value: round(t, 4) for s, t in result.shared_seconds.items()},
    }


def build_plan(args: argparse.Namespace) -> ProvisionPlan:
    """The plan described by ``provision``'s arguments (reads key and password files).

    Raises:
        VmguiError: an unknown image, an unreadable file or an invalid value.
    """
    source: Source
    vcpus, memory, disk, cloud = 2, 2048, 20.0, True
    if args.volume:
        pool, _, volume = args.volume.partition("/")
        if not pool or not volume:
            raise VmguiError("--volume must be POOL/VOLUME", f"got {args.volume!r}")
        source, cloud = ExistingVolume(pool, volume), False
    elif Path(args.image).exists():
        path = Path(args.image).resolve()
        info = read_image_info(path)
        source = LocalImage(path)
        cloud = info.format is not ImageFormat.ISO
        disk = max(disk, -(-info.virtual_size // (1 << 30)))
    else:
        entry = find_entry(load_catalog(), args.image)
        source = CatalogImage(entry)
        vcpus, memory, disk = entry.vcpus, entry.memory_mib, entry.disk_gib
        cloud = entry.cloud_init and entry.format is not ImageFormat.ISO
    try:
        config = None
        if cloud and not args.no_cloud_init:
            config = CloudInitConfig(
                hostname=args.hostname or guest_hostname(args.name),
                user=args.user,
                password_hash=_read_password(args.password_file),
                ssh_keys=tuple(_read_key(k) for k in args.ssh_key),
                packages=tuple(args.package),
            )
    except ValidationError as exc:
        raise VmguiError(exc.message) from None
    return ProvisionPlan(
        name=args.name,
        source=source,
        vcpus=args.vcpus if args.vcpus is not None else vcpus,
        memory_mib=args.memory if args.memory is not None else memory,
        disk_bytes=int((args.disk if args.disk is not None else disk) * (1 << 30)),
        virt_type=VirtType(args.virt_type),
        network=args.network,
        pool=args.pool,
        pool_path=args.pool_path,
        cloud_init=config,
        seed_device=SeedDevice(args.seed_device),
        start=not args.no_start,
        serial_log=args.serial_log,
        graphics=not args.no_graphics,
    )


def _read_password(path: Path | None) -> str:
    if path is None:
        return ""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise VmguiError(f"Could not read the password file {path}", str(exc)) from exc
    password = text.splitlines()[0] if text else ""
    return hash_password(password)


def _read_key(value: str) -> str:
    if value.split(" ", 1)[0].startswith(("ssh-", "ecdsa-", "sk-")):
        return value.strip()
    try:
        return Path(value).expanduser().read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise VmguiError(f"Could not read the SSH key {value}", str(exc)) from exc
