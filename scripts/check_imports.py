#!/usr/bin/env python3
"""Every import declared, every module documented.

Fails (exit 1, one line per finding) when
  - a Swift file imports a module that its target does not declare in Package.swift (it would
    compile only through transitive visibility, an accident of the build), or
  - the module table of docs/architecture.md leaves out a target of Package.swift, or
  - a row's "may import" cell names other modules than its target declares (swift-log's Logging,
    which every module may use, left out).

Package.swift is read as text: each `.target`, `.executableTarget`, `.testTarget` and
`.systemLibrary` call, its `name:`, `path:` and `dependencies:` (target names, and products mapped
to the modules they vend). Modules of the toolchain and the OS need no declaration.

Usage: scripts/check_imports.py [--root DIR]   (run by scripts/test.sh)
"""
from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

# Modules every target may import without declaring them: the toolchain's and the OS's.
SYSTEM_MODULES = {
    "Foundation", "FoundationEssentials", "FoundationNetworking", "FoundationXML",
    "Glibc", "Musl", "Darwin", "Android", "WinSDK", "Dispatch", "Synchronization",
    "Testing", "XCTest", "_Concurrency", "_StringProcessing", "RegexBuilder", "Swift",
}

# Products of package dependencies, by the modules they vend.
PRODUCT_MODULES = {
    "Logging": {"Logging"},
    "ServiceLifecycle": {"ServiceLifecycle"},
    "ArgumentParser": {"ArgumentParser"},
    "SwiftProtobuf": {"SwiftProtobuf"},
    "Yams": {"Yams"},
}

TARGET_CALL = re.compile(r"\.(target|executableTarget|testTarget|systemLibrary)\s*\(")
IMPORT = re.compile(
    r"^\s*(?:@\w+(?:\([^)]*\))?\s+)*import\s+(?:(?:struct|class|enum|protocol|func|var|let|typealias)\s+)?([A-Za-z_][A-Za-z0-9_]*)",
    re.MULTILINE,
)


@dataclass
class Target:
    name: str
    kind: str
    path: Path
    modules: set[str] = field(default_factory=set)  # what it may import


def balanced(text: str, start: int, open_: str, close: str) -> str:
    """The text from `start` (just after an opening bracket) to its matching close."""
    depth, i = 1, start
    in_string = False
    while i < len(text):
        c = text[i]
        if in_string:
            if c == "\\":
                i += 1
            elif c == '"':
                in_string = False
        elif c == '"':
            in_string = True
        elif c == open_:
            depth += 1
        elif c == close:
            depth -= 1
            if depth == 0:
                return text[start:i]
        i += 1
    raise ValueError(f"unbalanced {open_!r} at offset {start}")


def strip_comments(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.DOTALL)
    return re.sub(r"//[^\n]*", "", text)


def read_targets(root: Path) -> list[Target]:
    manifest = strip_comments((root / "Package.swift").read_text())
    targets = []
    for m in TARGET_CALL.finditer(manifest):
        kind = m.group(1)
        body = balanced(manifest, m.end(), "(", ")")
        name = re.search(r'name:\s*"([^"]+)"', body)
        if not name:
            raise ValueError(f"Package.swift: a .{kind}( without a name")
        name = name.group(1)
        path = re.search(r'path:\s*"([^"]+)"', body)
        folder = path.group(1) if path else ("Tests/" if kind == "testTarget" else "Sources/") + name
        target = Target(name, kind, root / folder)
        deps = re.search(r"dependencies:\s*\[", body)
        if deps:
            listing = balanced(body, deps.end(), "[", "]")
            for product in re.finditer(r'\.product\s*\(\s*name:\s*"([^"]+)"', listing):
                target.modules |= PRODUCT_MODULES.get(product.group(1), {product.group(1)})
            plain = re.sub(r"\.product\s*\([^)]*\)", "", listing)
            target.modules |= set(re.findall(r'"([^"]+)"', plain))
        targets.append(target)
    return targets


def undeclared_imports(root: Path, targets: list[Target]) -> list[str]:
    findings = []
    for t in targets:
        if t.kind == "systemLibrary":
            continue
        allowed = t.modules | SYSTEM_MODULES | {t.name}
        for file in sorted(t.path.rglob("*.swift")):
            text = strip_comments(file.read_text())
            for m in IMPORT.finditer(text):
                module = m.group(1)
                if module not in allowed:
                    line = text.count("\n", 0, m.start()) + 1
                    findings.append(
                        f"{file.relative_to(root)}:{line}: imports {module}, which target {t.name} "
                        f"does not declare in Package.swift (add it to its dependencies)"
                    )
    return findings


def undocumented_modules(root: Path, targets: list[Target]) -> list[str]:
    doc = root / "docs/architecture.md"
    text = doc.read_text()
    # The module table: rows of `| `Name`, `Name2` | may import | what it is |` after its header.
    header = re.search(r"^\|\s*module\s*\|", text, re.MULTILINE)
    if not header:
        return [f"{doc.relative_to(root)}: no module table (a '| module | …' header)"]
    documented = set()
    for row in text[header.start():].splitlines()[2:]:
        if not row.startswith("|"):
            break
        first_cell = row.split("|")[1]
        documented |= set(re.findall(r"`([^`]+)`", first_cell))
    return [
        f"{doc.relative_to(root)}: the module table leaves out {t.name} (a .{t.kind} in Package.swift)"
        for t in targets
        if t.kind != "testTarget" and t.name not in documented
    ]


def table_rows(text: str) -> list[tuple[str, str]]:
    """The module table's (first cell, second cell) pairs."""
    header = re.search(r"^\|\s*module\s*\|", text, re.MULTILINE)
    rows = []
    for row in text[header.start():].splitlines()[2:] if header else []:
        if not row.startswith("|"):
            break
        cells = row.split("|")
        rows.append((cells[1], cells[2]))
    return rows


def wrong_may_import(root: Path, targets: list[Target]) -> list[str]:
    doc = root / "docs/architecture.md"
    by_name = {t.name: t for t in targets}
    known = set(by_name) | {m for ms in PRODUCT_MODULES.values() for m in ms}
    findings = []
    for first, second in table_rows(doc.read_text()):
        named = set(re.findall(r"[A-Za-z_][A-Za-z0-9_-]*", second)) & known
        for name in re.findall(r"`([^`]+)`", first):
            t = by_name.get(name)
            if t is None or t.kind in ("systemLibrary", "testTarget"):
                continue
            declared = t.modules - {"Logging"}
            if named != declared:
                missing, extra = sorted(declared - named), sorted(named - declared)
                findings.append(
                    f"{doc.relative_to(root)}: the row of {name} says it may import "
                    + ", ".join(filter(None, [
                        f"not {', '.join(missing)} (declared in Package.swift)" if missing else "",
                        f"{', '.join(extra)} (not declared)" if extra else ""])))
    return findings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent)
    args = parser.parse_args()
    targets = read_targets(args.root)
    findings = (undeclared_imports(args.root, targets) + undocumented_modules(args.root, targets)
                + wrong_may_import(args.root, targets))
    for f in findings:
        print(f"check_imports: {f}", file=sys.stderr)
    if not findings:
        print(f"check_imports: {len(targets)} targets, every import declared, every module documented with what it may import")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
