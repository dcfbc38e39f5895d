"""The ``.npc`` artifact: one versioned, checksummed file with everything needed to run.

Layout: a 52-byte header -- magic ``NEUROPC\\0``, format version (uint32 LE), payload length
(uint64 LE), SHA-256 of the payload (32 bytes) -- followed by the payload, an uncompressed
zip of JSON documents (program, placement, target table, report, graph), npz arrays
(channels, routes, initial parameters) and the source spec. The header makes a truncated or
corrupted file fail with a clear message before anything is parsed, and the zip keeps the
members readable with ordinary tools. The payload is streamed to disk and hashed from there,
so writing a large network never holds a second copy of it in memory.

Loading needs numpy and the standard library only (and ``compiler.program`` for the program
dataclasses, which has no other dependency), so an executor never imports the compiler's
passes.
"""

from __future__ import annotations

import hashlib
import io
import json
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from compiler.program import FORMAT_VERSION, Channels, Program
from neuropc.atomic_files import replacing
from neuropc.errors import NeuropcError

MAGIC = b"NEUROPC\x00"
_HEADER = struct.Struct("<8sIQ32s")
HEADER_SIZE = _HEADER.size


class ArtifactError(NeuropcError):
    """A file that is not a readable artifact of this format version."""


@dataclass
class Artifact:
    """A loaded artifact. ``program`` is what an executor runs; ``params`` are the reference
    parameters (named as in ``neuropc.reference.network``) that buffers bind to; placement
    arrays give every logical core's physical slot and every channel's route length."""

    manifest: dict[str, Any]
    spec_text: str  # the spec file as the user wrote it
    resolved_spec_text: str  # with defaults filled in and the target actually used
    target: dict[str, Any]
    program: Program
    placement: dict[str, Any]
    placement_arrays: dict[str, np.ndarray]
    params: dict[str, np.ndarray]
    graph: dict[str, Any]
    report: dict[str, Any]

    @property
    def format_version(self) -> int:
        return int(self.manifest["format_version"])

    def initial_value(self, core: int, buffer: str) -> np.ndarray:
        """The block of the initial parameters a weight/param buffer holds (zeros for any
        other kind: state, traces, accumulators and moments start at zero)."""
        buf = self.program.cores[core].buffers[buffer]
        b = buf.binding
        if b is None or b.space != "param":
            return np.zeros(buf.shape)
        array = self.params[b.name]
        block = array[b.rows[0]:b.rows[1]] if b.cols is None else \
            array[b.rows[0]:b.rows[1], b.cols[0]:b.cols[1]]
        return np.array(block.T if b.transpose else block)


Member = bytes | dict[str, np.ndarray]


def _json(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode("utf-8")


def build_members(*, manifest: dict[str, Any], spec_text: str, resolved_spec_text: str,
                  target: dict[str, Any], program: Program, placement: dict[str, Any],
                  placement_arrays: dict[str, np.ndarray], params: dict[str, np.ndarray],
                  graph: dict[str, Any], report: dict[str, Any]) -> dict[str, Member]:
    """The member files of an artifact in write order: bytes, or arrays stored as npz."""
    manifest = {**manifest, "format_version": FORMAT_VERSION}
    return {
        "manifest.json": _json(manifest),
        "spec.yaml": spec_text.encode("utf-8"),
        "spec.resolved.yaml": resolved_spec_text.encode("utf-8"),
        "target.json": _json(target),
        "program.json": _json(program.to_dict()),
        "channels.npz": program.channels.arrays(),
        "placement.json": _json(placement),
        "placement.npz": placement_arrays,
        "params.npz": params,
        "graph.json": _json(graph),
        "report.json": _json(report),
    }


def _write_payload(fh: Any, members: dict[str, Member]) -> None:
    """Stream the zip payload; npz members are written array by array, never buffered."""
    with zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for name, data in members.items():
            if isinstance(data, bytes):
                zf.writestr(name, data)
            else:
                with zf.open(name, "w", force_zip64=True) as dst:
                    np.savez(dst, **data)


def is_artifact(path: str | Path) -> bool:
    """True if the file starts with the artifact magic (of any format version)."""
    try:
        with open(path, "rb") as fh:
            return fh.read(len(MAGIC)) == MAGIC
    except OSError:
        return False


def write_artifact(path: str | Path, members: dict[str, Member], force: bool = False) -> int:
    """Write atomically; refuse to replace an existing file that is not an artifact unless
    ``force``. Returns the number of bytes written."""
    path = Path(path)
    if path.is_dir():
        raise ArtifactError(f"{path}: is a directory, expected an output file name")
    if path.exists() and not force and not is_artifact(path):
        raise ArtifactError(f"{path}: exists and is not a neuropc artifact; refusing to "
                            f"overwrite it (use --force, or choose another -o)")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise ArtifactError(f"{path}: folder {folder} does not exist")
    with replacing(folder / path.name) as fh:
        fh.write(b"\0" * HEADER_SIZE)
        _write_payload(fh, members)
        end = fh.tell()
        digest = hashlib.sha256()
        fh.seek(HEADER_SIZE)
        while chunk := fh.read(1 << 24):
            digest.update(chunk)
        fh.seek(0)
        fh.write(_HEADER.pack(MAGIC, FORMAT_VERSION, end - HEADER_SIZE, digest.digest()))
    return end


def read_payload(path: str | Path) -> tuple[int, bytes]:
    """Check header, length and checksum; return (format version, payload)."""
    path = Path(path)
    if path.is_dir():
        raise ArtifactError(f"{path}: is a folder, expected a .npc artifact file")
    if not path.is_file():
        raise ArtifactError(f"{path}: no such artifact file")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ArtifactError(f"{path}: cannot read: {exc.strerror}") from None
    if not data:
        raise ArtifactError(f"{path}: empty file, not an artifact; compile a spec with "
                            f"`neuropc compile net.yaml -o {path.name}`")
    if len(data) < len(MAGIC) or data[:len(MAGIC)] != MAGIC:
        raise ArtifactError(f"{path}: not a neuropc artifact (wrong magic bytes); compile a "
                            f"spec with `neuropc compile net.yaml -o {path.name}`")
    if len(data) < HEADER_SIZE:
        raise ArtifactError(f"{path}: truncated: {len(data)} bytes, the header alone is "
                            f"{HEADER_SIZE}")
    _, version, length, digest = _HEADER.unpack_from(data)
    if version > FORMAT_VERSION:
        raise ArtifactError(f"{path}: artifact format version {version} was written by a newer "
                            f"neuropc (this one reads version {FORMAT_VERSION}); upgrade neuropc")
    if version != FORMAT_VERSION:
        raise ArtifactError(f"{path}: artifact format version {version}, this neuropc reads "
                            f"version {FORMAT_VERSION}; recompile the spec")
    payload = data[HEADER_SIZE:]
    if len(payload) != length:
        raise ArtifactError(f"{path}: truncated or padded: the header promises {length:,} "
                            f"payload bytes, the file has {len(payload):,}")
    if hashlib.sha256(payload).digest() != digest:
        raise ArtifactError(f"{path}: corrupted: SHA-256 of the contents does not match the "
                            f"checksum in the header")
    return version, payload


#: what every JSON member must be, and the keys of it that readers use
_DOCUMENTS: dict[str, tuple[type, tuple[str, ...]]] = {
    "manifest.json": (dict, ("format_version", "spec_name", "created", "neuropc_version")),
    "target.json": (dict, ("name",)),
    "program.json": (dict, ()),
    "placement.json": (dict, ()),
    "graph.json": (dict, ()),
    "report.json": (dict, ()),
}
#: errors a malformed member raises while it is parsed (never a bug in neuropc: the
#: checksum matched, so the file was written by something else or another version)
_MALFORMED = (KeyError, ValueError, TypeError, AttributeError, IndexError, OverflowError,
              zipfile.BadZipFile, UnicodeDecodeError, EOFError, OSError, RecursionError)


def load_artifact(path: str | Path) -> Artifact:
    """Load and check an artifact; any problem is an ArtifactError naming the file and the
    member that is malformed, in one line."""
    from neuropc.tasks import task_from_params

    _, payload = read_payload(path)

    def malformed(name: str, why: object) -> ArtifactError:
        text = str(why).splitlines()[0] if str(why) else type(why).__name__
        return ArtifactError(f"{path}: checksum matches but {name} inside it is malformed ({text[:200]}); "
                             "it was not written by this neuropc (recompile the spec)")

    try:
        zf = zipfile.ZipFile(io.BytesIO(payload))
    except _MALFORMED as exc:
        raise malformed("the payload", exc) from None
    with zf:
        def member(name: str, parse: Any) -> Any:
            try:
                return parse(zf.read(name))
            except KeyError:
                raise ArtifactError(f"{path}: checksum matches but {name} is missing from it; it was "
                                    "not written by this neuropc (recompile the spec)") from None
            except _MALFORMED as exc:
                raise malformed(name, exc) from None

        def doc(name: str) -> Any:
            value = member(name, lambda raw: json.loads(raw.decode("utf-8")))
            kind, keys = _DOCUMENTS[name]
            if not isinstance(value, kind):
                raise malformed(name, f"expected a JSON object, got {type(value).__name__}")
            missing = [key for key in keys if key not in value]
            if missing:
                raise malformed(name, f"no {', '.join(missing)}")
            return value

        def arrays(name: str) -> dict[str, np.ndarray]:
            def parse(raw: bytes) -> dict[str, np.ndarray]:
                try:
                    with np.load(io.BytesIO(raw), allow_pickle=False) as npz:
                        return {k: npz[k] for k in npz.files}
                except _MALFORMED:
                    raise ValueError("not a readable .npz file of numeric arrays") from None
            return member(name, parse)

        def text(name: str) -> str:
            return member(name, lambda raw: raw.decode("utf-8"))

        manifest = doc("manifest.json")
        if not isinstance(manifest["format_version"], int) or manifest["format_version"] != FORMAT_VERSION:
            raise malformed("manifest.json", f"format_version {manifest['format_version']!r} disagrees "
                                             "with the header")
        channels_arrays = arrays("channels.npz")
        program_doc = doc("program.json")
        try:
            program = Program.from_dict(program_doc, Channels.from_arrays(channels_arrays))
        except _MALFORMED as exc:
            raise malformed("program.json", exc) from None
        artifact = Artifact(
            manifest=manifest, spec_text=text("spec.yaml"), resolved_spec_text=text("spec.resolved.yaml"),
            target=doc("target.json"), program=program, placement=doc("placement.json"),
            placement_arrays=arrays("placement.npz"), params=arrays("params.npz"),
            graph=doc("graph.json"), report=doc("report.json"))
    try:
        task_from_params(program.settings.task.params)
        _check_bindings(artifact)
    except NeuropcError as exc:
        raise malformed("program.json", exc) from None
    except _MALFORMED as exc:
        raise malformed("program.json", exc) from None
    return artifact


def rendered(path: str | Path, member: str, render: Any) -> str:
    """``render()`` of a loaded artifact's documents; a document that loaded but cannot be
    shown (a checksummed file rewritten by another tool) is an ArtifactError naming it."""
    try:
        return render()
    except _MALFORMED as exc:
        why = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise ArtifactError(f"{path}: checksum matches but {member} inside it is malformed ({why}); "
                            "it was not written by this neuropc (recompile the spec)") from None


def _check_bindings(artifact: Artifact) -> None:
    """Every buffer bound to a parameter reads a block inside that parameter, and the
    placement has a hop count per channel: what backends index without checking."""
    if "hops" not in artifact.placement_arrays:
        raise ValueError("placement.npz has no hops")
    for core in artifact.program.cores:
        for buf in core.buffers.values():
            b = buf.binding
            if b is None or b.space != "param":
                continue
            if b.name not in artifact.params:
                raise ValueError(f"core {core.core} buffer {buf.name} is bound to a parameter "
                                 f"{b.name!r} that params.npz does not hold")
            array = artifact.params[b.name]
            block = array[b.rows[0]:b.rows[1]] if b.cols is None else array[b.rows[0]:b.rows[1], b.cols[0]:b.cols[1]]
            shape = block.T.shape if b.transpose else block.shape
            if tuple(shape) != tuple(buf.shape):
                raise ValueError(f"core {core.core} buffer {buf.name} has shape {tuple(buf.shape)} but its "
                                 f"block of {b.name} is {tuple(shape)}")
