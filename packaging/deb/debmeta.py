#!/usr/bin/python3
"""Package metadata for build.sh: version, Installed-Size, Depends, control file, changelog.

Standard library only; runs on Debian's /usr/bin/python3 without the project installed.

    debmeta.py version ROOT                   # Debian version from vmgui.__version__
    debmeta.py installed-size STAGE           # KiB, computed as dpkg-gencontrol does
    debmeta.py depends SHLIBS_LINE STATIC...  # merge dpkg-shlibdeps output with fixed entries
    debmeta.py control TEMPLATE KEY=VALUE...  # fill @KEY@ placeholders
    debmeta.py changelog VERSION MAINTAINER EPOCH
    debmeta.py elf-files DIR                  # the ELF files under DIR, one a line
    debmeta.py copyright HEADER DIR PREFIX    # HEADER + a paragraph per distribution in DIR
    debmeta.py bundled DIR                    # name==version of each distribution in DIR
"""

from __future__ import annotations

import ast
import os
import re
import sys
from datetime import UTC, datetime
from email.parser import Parser
from email.utils import format_datetime, getaddresses
from pathlib import Path


def project_version(root: Path) -> str:
    """``vmgui.__version__`` read from the source, without importing the package."""
    tree = ast.parse((root / "vmgui" / "__init__.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "__version__" for t in node.targets)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            return node.value.value
    raise SystemExit("vmgui/__init__.py has no literal __version__")


def debian_version(pep440: str) -> str:
    """A PEP 440 version as a Debian version that sorts the same way.

    Pre-releases and dev releases sort before the release: ``1.0rc1`` -> ``1.0~rc1``,
    ``1.0.dev2`` -> ``1.0~dev2``; a local label becomes ``+``: ``1.0+g123`` stays.
    """
    version = pep440.strip().lower()
    if not re.fullmatch(r"[0-9][0-9a-z.+!-]*", version):
        raise SystemExit(f"unsupported version {pep440!r}")
    version = re.sub(r"[.-]?(a|alpha|b|beta|c|rc|pre|preview)\.?(\d+)", r"~\1\2", version)
    version = re.sub(r"[.-]?dev\.?(\d+)", r"~dev\1", version)
    version = re.sub(r"[.-]?post\.?(\d+)", r"+post\1", version)
    return version.replace("!", ":")


def installed_size(stage: Path) -> int:
    """Installed-Size in KiB: each file rounded up to 1 KiB, 1 KiB per other entry."""
    total = 0
    for dirpath, dirnames, filenames in os.walk(stage):
        if Path(dirpath) == stage:
            dirnames[:] = [d for d in dirnames if d != "DEBIAN"]
        total += len(dirnames)
        for name in filenames:
            path = Path(dirpath, name)
            if path.is_symlink():
                total += 1
            else:
                total += (path.stat().st_size + 1023) // 1024
    return total


def _relations(text: str) -> list[str]:
    return [r.strip() for r in text.split(",") if r.strip()]


def merge_depends(shlibs_line: str, static: list[str]) -> str:
    """Merge ``shlibs:Depends=...`` (dpkg-shlibdeps -O) with fixed relations.

    Relations are grouped by their first package name. A group with versioned relations keeps
    those (each once); otherwise its one unversioned relation is kept.
    """
    _, _, found = shlibs_line.partition("=")
    groups: dict[str, list[str]] = {}
    for relation in [*static, *_relations(found)]:
        name = re.split(r"[\s(:|]", relation, maxsplit=1)[0]
        group = groups.setdefault(name, [])
        if relation not in group:
            group.append(relation)
    merged: list[str] = []
    for name in sorted(groups):
        versioned = [r for r in groups[name] if "(" in r]
        merged.extend(versioned or groups[name][:1])
    return ", ".join(merged)


def fill_template(template: Path, pairs: list[str]) -> str:
    """``@KEY@`` replaced by VALUE for each KEY=VALUE; any placeholder left over is an error."""
    text = template.read_text(encoding="utf-8")
    for pair in pairs:
        key, _, value = pair.partition("=")
        text = text.replace(f"@{key}@", value)
    leftover = re.findall(r"@[A-Z_]+@", text)
    if leftover:
        raise SystemExit(f"{template}: unfilled {', '.join(sorted(set(leftover)))}")
    return text


def changelog(version: str, maintainer: str, epoch: int) -> str:
    """A one-entry Debian changelog for this build."""
    when = format_datetime(datetime.fromtimestamp(epoch, UTC))
    return (
        f"vmgui ({version}) unstable; urgency=medium\n\n"
        f"  * Release {version}.\n\n"
        f" -- {maintainer}  {when}\n"
    )


def elf_files(top: Path) -> list[Path]:
    """Regular files under ``top`` that start with the ELF magic number."""
    found = []
    for dirpath, _dirnames, filenames in os.walk(top):
        for name in filenames:
            path = Path(dirpath, name)
            if path.is_symlink() or not path.is_file():
                continue
            with path.open("rb") as stream:
                if stream.read(4) == b"\x7fELF":
                    found.append(path)
    return sorted(found)


def _metadata(dist_info: Path) -> dict[str, list[str]]:
    message = Parser().parsestr((dist_info / "METADATA").read_text(encoding="utf-8"))
    fields: dict[str, list[str]] = {}
    for key, value in message.items():
        fields.setdefault(key.lower(), []).append(str(value).strip())
    return fields


def _licence(fields: dict[str, list[str]]) -> str:
    for key in ("license-expression", "license"):
        for value in fields.get(key, []):
            if value and "\n" not in value and len(value) < 100:
                return value
    classifiers = [
        c.rsplit("::", 1)[-1].strip()
        for c in fields.get("classifier", [])
        if c.startswith("License ::")
    ]
    return " or ".join(classifiers) or "unknown"


def _holders(fields: dict[str, list[str]], name: str) -> str:
    for key in ("author", "maintainer"):
        if fields.get(key):
            return fields[key][0]
    for key in ("author-email", "maintainer-email"):
        names = [n or a for n, a in getaddresses(fields.get(key, [])) if n or a]
        if names:
            return ", ".join(names)
    return f"the {name} developers"


def _top_level(dist_info: Path, top: Path) -> list[str]:
    """The files and directories a distribution put at the top of ``top`` (from its RECORD)."""
    names: set[str] = set()
    for line in (dist_info / "RECORD").read_text(encoding="utf-8").splitlines():
        first = line.split(",", 1)[0].split("/", 1)[0]
        if first and first != dist_info.name and not first.startswith(".."):
            names.add(first)
    return sorted(n for n in names if (top / n).exists())


def distributions(top: Path) -> list[tuple[str, str, Path]]:
    """(name, version, dist-info directory) of each distribution installed in ``top``."""
    found = []
    for dist_info in sorted(top.glob("*.dist-info")):
        fields = _metadata(dist_info)
        found.append((fields["name"][0], fields["version"][0], dist_info))
    return found


def copyright_file(header: Path, top: Path, prefix: str) -> str:
    """The DEP-5 copyright file: HEADER, then one paragraph per bundled distribution."""
    parts = [header.read_text(encoding="utf-8").rstrip("\n")]
    for name, version, dist_info in distributions(top):
        if name == "vmgui":
            continue
        fields = _metadata(dist_info)
        paths = [
            f"{prefix}/{n}/*" if (top / n).is_dir() else f"{prefix}/{n}"
            for n in _top_level(dist_info, top)
        ]
        where = (
            f"The licence text, as its authors ship it, is in /{prefix}/{dist_info.name}/licenses/."
            if (dist_info / "licenses").is_dir()
            else "The texts of these licences are in /usr/share/common-licenses/."
        )
        parts.append(
            "Files: "
            + "\n       ".join(paths)
            + f"\nCopyright: {_holders(fields, name)}"
            + f"\nLicense: {_licence(fields)}"
            + f"\n {name} {version}, bundled from PyPI."
            + f"\n {where}"
        )
    return "\n\n".join(parts) + "\n"


def main(argv: list[str]) -> int:
    """Dispatch one sub-command; print its result."""
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    command, args = argv[0], argv[1:]
    if command == "version":
        print(debian_version(project_version(Path(args[0]))))
    elif command == "installed-size":
        print(installed_size(Path(args[0])))
    elif command == "depends":
        print(merge_depends(args[0], args[1:]))
    elif command == "control":
        sys.stdout.write(fill_template(Path(args[0]), args[1:]))
    elif command == "changelog":
        sys.stdout.write(changelog(args[0], args[1], int(args[2])))
    elif command == "elf-files":
        for path in elf_files(Path(args[0])):
            print(path)
    elif command == "copyright":
        sys.stdout.write(copyright_file(Path(args[0]), Path(args[1]), args[2].strip("/")))
    elif command == "bundled":
        for name, version, _ in distributions(Path(args[0])):
            print(f"{name}=={version}")
    else:
        print(f"unknown command {command!r}\n{__doc__}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
