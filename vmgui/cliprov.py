"""vmgui-cli's provisioning commands: ``images``, ``provision``, ``template`` and ``clone``.

Built on the same engine as the wizard (:mod:`vmgui.virt.provision`). Each step's time is
printed as it ends; failures raise :class:`VmguiError`, which ``vmgui-cli`` prints as one line.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

from vmgui.core.catalog import CatalogEntry, ImageFormat, find_entry, load_catalog, read_image_info
from vmgui.core.cloudinit import CloudInitConfig, guest_hostname, hash_password
from vmgui.core.errors import VmguiError
from vmgui.core.provisioning import (
    CatalogImage,
    ExistingVolume,
    LocalImage,
    Progress,
    ProvisionPlan,
    ProvisionResult,
    SeedDevice,
    Source,
    Step,
    VirtType,
)
from vmgui.core.validation import ValidationError
from vmgui.virt.connection import HostConnection
from vmgui.virt.download import Downloader, TransferProgress
from vmgui.virt.provision import Provisioner
from vmgui.virt.templates import clone_from_template, set_template

PROVISION_COMMANDS = ("images", "provision", "template", "clone")


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the provisioning subcommands on ``vmgui-cli``'s parser."""
    images = sub.add_parser("images", help="list the image catalog, or download an image")
    images.add_argument("--json", action="store_true", help="print JSON")
    images_sub = images.add_subparsers(dest="images_command")
    download = images_sub.add_parser("download", help="download and verify an image")
    download.add_argument("image_id", metavar="ID")

    prov = sub.add_parser("provision", help="create (and start) a guest from an OS image")
    prov.add_argument("--connect", metavar="URI", required=True)
    src = prov.add_mutually_exclusive_group(required=True)
    src.add_argument("--image", metavar="ID|PATH", help="catalog id, or a qcow2/raw/ISO file")
    src.add_argument("--volume", metavar="POOL/VOLUME", help="import an existing volume")
    prov.add_argument("--name", required=True)
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
    prov.add_argument("--json", action="store_true", help="print the result as JSON")

    template = sub.add_parser("template", help="mark or unmark a guest as a template")
    template.add_argument("action", choices=["mark", "unmark"])
    template.add_argument("guest", metavar="NAME")
    template.add_argument("--connect", metavar="URI", required=True)

    clone = sub.add_parser("clone", help="make a linked clone of a template")
    clone.add_argument("--connect", metavar="URI", required=True)
    clone.add_argument("--template", required=True, metavar="NAME")
    clone.add_argument("--name", required=True)
    clone.add_argument("--start", action="store_true")
    clone.add_argument("--json", action="store_true")


async def run_images(args: argparse.Namespace) -> int:
    """``vmgui-cli images [download ID]``."""
    entries = load_catalog()
    if args.images_command == "download":
        entry = find_entry(entries, args.image_id)
        done = await Downloader().fetch(entry, _print_transfer)
        _end_transfer_line()
        state = "already cached" if done.cached else "downloaded"
        print(f"{entry.id}: {state}, {done.algorithm} verified: {done.path}")
        return 0
    if args.json:
        print(json.dumps([_entry_json(e) for e in entries], indent=2))
        return 0
    print(f"{'ID':<16} {'VCPUS':>5} {'MiB':>6} {'GiB':>4}  NAME")
    for e in entries:
        print(f"{e.id:<16} {e.vcpus:>5} {e.memory_mib:>6} {e.disk_gib:>4}  {e.name}")
    return 0


async def run_host_command(args: argparse.Namespace, host: HostConnection) -> int:
    """``provision``, ``template`` and ``clone`` on a connected host."""
    if args.command == "provision":
        plan = build_plan(args)
        result = await Provisioner(host).provision(plan, _step_printer(args.json))
        _print_result(result, args.json)
        return 0
    if args.command == "template":
        uuid = _uuid_of(host, args.guest)
        await set_template(host, uuid, args.action == "mark")
        print(f"{args.guest}: {'marked' if args.action == 'mark' else 'no longer'} a template")
        return 0
    uuid = _uuid_of(host, args.template)
    result = await clone_from_template(
        host, uuid, args.name, start=args.start, progress=_step_printer(args.json)
    )
    _print_result(result, args.json)
    return 0


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


def _uuid_of(host: HostConnection, name: str) -> str:
    for guest in host.guests.values():
        if guest.name == name:
            return guest.uuid
    raise VmguiError(f"There is no guest {name!r} on {host.display_name}")


def _step_printer(quiet: bool) -> Callable[[Progress], None]:
    def on_progress(p: Progress) -> None:
        if quiet:
            return
        if p.step is Step.DOWNLOAD and p.total_bytes and sys.stderr.isatty():
            _print_transfer(
                TransferProgress("download", p.done_bytes, p.total_bytes, p.speed, p.eta)
            )

    return on_progress


def _print_result(result: ProvisionResult, as_json: bool) -> None:
    if as_json:
        print(json.dumps(result_json(result), indent=2))
        return
    for t in result.timings:
        note = f"  ({t.note})" if t.note else ""
        print(f"{t.step.value:<9} {t.seconds:8.3f} s{note}")
    print(f"{'total':<9} {result.total_seconds:8.3f} s")
    for warning in result.warnings:
        print(f"warning: {warning}")
    state = "running" if result.started else "defined"
    print(f"{result.name} ({result.uuid}) {state} on {result.host_uri}, {result.virt_type}")


def result_json(result: ProvisionResult) -> dict[str, object]:
    """A result as plain JSON data."""
    return {
        "host": result.host_uri,
        "name": result.name,
        "uuid": result.uuid,
        "virt_type": result.virt_type,
        "started": result.started,
        "disk": result.disk_path,
        "base": result.base_path,
        "seed": result.seed_path,
        "timings": {t.step.value: round(t.seconds, 4) for t in result.timings},
        "notes": {t.step.value: t.note for t in result.timings if t.note},
        "total_seconds": round(result.total_seconds, 4),
        "libvirt_start_seconds": round(result.libvirt_start_seconds, 4),
        "warnings": list(result.warnings),
    }


def _entry_json(e: CatalogEntry) -> dict[str, object]:
    return {
        "id": e.id,
        "name": e.name,
        "url": e.url,
        "path": e.path,
        "format": e.format.value,
        "checksum": None
        if e.checksum is None
        else {"algorithm": e.checksum.algorithm, "value": e.checksum.value, "url": e.checksum.url},
        "osinfo": e.osinfo,
        "cloud_init": e.cloud_init,
        "defaults": {"vcpus": e.vcpus, "memory_mib": e.memory_mib, "disk_gib": e.disk_gib},
        "user": e.user,
    }


def _print_transfer(p: TransferProgress) -> None:
    if not sys.stderr.isatty():
        return
    total = f"/{p.total_bytes / 1048576:.1f}" if p.total_bytes else ""
    speed = f" {p.speed / 1048576:.1f} MiB/s" if p.speed else ""
    eta = f" ETA {p.eta:.0f} s" if p.eta is not None else ""
    sys.stderr.write(f"\r{p.phase}: {p.done_bytes / 1048576:.1f}{total} MiB{speed}{eta}   ")
    sys.stderr.flush()


def _end_transfer_line() -> None:
    if sys.stderr.isatty():
        sys.stderr.write("\n")
