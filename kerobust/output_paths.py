"""Output paths of a command, checked before any work: never one of the command's inputs, never a file that kerobust
did not write (unless the user passes `--overwrite`), never a folder where a file goes.

Each file kerobust writes for a user says which command wrote it, in the file itself: JSON files carry a top-level
`"written_by"` key, PNG figures a `Software` text chunk, ONNX files a `written_by` metadata entry and SavedModel
folders an `assets.extra/kerobust.json` marker. A command may replace a file that the same command wrote earlier
(`kerobust eval` its own JSON and plot); anything else needs `--overwrite`, and an input is never replaced.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import os
from collections.abc import Collection, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from kerobust.errors import KerobustError, require

if TYPE_CHECKING:
    import argparse

WRITER_KEY = "written_by"
SAVED_MODEL_MARKER = os.path.join("assets.extra", "kerobust.json")
_WRITER = contextvars.ContextVar("kerobust_writer", default="kerobust")


def writer() -> str:
    """The label that files written now carry: `kerobust <command>` inside a CLI command, else `kerobust`."""
    return _WRITER.get()


@contextlib.contextmanager
def writing_as(command: str) -> Iterator[None]:
    """Within the block, files are stamped as written by `kerobust <command>`."""
    token = _WRITER.set(f"kerobust {command}")
    try:
        yield
    finally:
        _WRITER.reset(token)


def stamped(payload: Mapping[str, Any]) -> dict[str, Any]:
    """`payload` (a JSON object) with the writer's stamp first."""
    return {WRITER_KEY: writer(), **{k: v for k, v in payload.items() if k != WRITER_KEY}}


def read_json_object(path: str) -> dict[str, Any] | None:
    """The JSON object (dict) in `path`, or None for a missing, unreadable, damaged or non-object file."""
    try:
        with open(path, encoding="utf-8") as handle:
            payload = json.load(handle)
    except (OSError, ValueError):
        return None
    return payload if isinstance(payload, dict) else None


def _json_writer(path):
    return (read_json_object(path) or {}).get(WRITER_KEY)


def _png_writer(path):
    try:
        from PIL import Image

        with Image.open(path) as image:
            return getattr(image, "text", {}).get("Software")
    except Exception:  # not an image, or a damaged one: not ours
        return None


def _onnx_writer(path):
    try:
        import onnx

        model = onnx.load(path, load_external_data=False)
    except Exception:  # onnx missing, or not an ONNX file
        return None
    return next((p.value for p in model.metadata_props if p.key == WRITER_KEY), None)


def _saved_model_writer(path):
    return _json_writer(os.path.join(path, SAVED_MODEL_MARKER))


def written_by(path: str) -> str | None:
    """The label of the kerobust command that wrote `path` (a file or a SavedModel folder), or None."""
    if os.path.isdir(path):
        return _saved_model_writer(path)
    with contextlib.suppress(OSError):
        with open(path, "rb") as handle:
            head = handle.read(8)
        if head.startswith(b"\x89PNG"):
            return _png_writer(path)
        if head.lstrip()[:1] == b"{":
            return _json_writer(path)
        return _onnx_writer(path) if path.endswith(".onnx") else None
    return None


def _same_file(first, second):
    try:
        return os.path.samefile(first, second)
    except OSError:
        return os.path.realpath(first) == os.path.realpath(second)


def require_writable(path: str, flag: str) -> None:
    """A one-line error unless `path`'s folder exists (or can be made) and is a writable folder."""
    from kerobust.atomic_files import existing_ancestor

    existing = existing_ancestor(os.path.dirname(os.path.abspath(path)))
    require(os.path.isdir(existing), f"cannot write {flag} {path!r}: {existing!r} is a file, not a folder.")
    require(os.access(existing, os.W_OK), f"cannot write {flag} {path!r}: folder {existing!r} is not writable.")


def check_outputs(outputs: Mapping[str, str | None], inputs: Mapping[str, str | Sequence[str] | None] | None = None,
                  overwrite: bool = False, folders: Collection[str] = ()) -> None:
    """Refuses, in one line and before any work, outputs that would destroy something.

    Args:
        outputs: `{flag: path}` of the files the command will write (None entries are skipped).
        inputs: `{flag: path or list of paths}` the command reads; an output that is one of them is always refused.
        overwrite: the user's `--overwrite`: an existing file that kerobust (or another command) wrote may be replaced.
        folders: the flags whose output is a folder (a SavedModel); any other existing folder is refused.
    """
    inputs = inputs or {}
    chosen = {flag: path for flag, path in outputs.items() if path}
    seen: dict[str, str] = {}
    for flag, path in chosen.items():
        for other_flag, other in seen.items():
            require(os.path.realpath(path) != os.path.realpath(other),
                    f"{flag} and {other_flag} are the same path {path!r}; give each its own.")
        seen[flag] = path
        for input_flag, given in inputs.items():
            for source in ([given] if isinstance(given, str) else list(given or [])):
                if source and os.path.exists(source) and os.path.exists(path) and _same_file(path, source):
                    raise KerobustError(f"{flag} {path!r} is the command's {input_flag} input: writing there would "
                                        "destroy it; choose another path.")
        require_writable(path, flag)
        if not os.path.lexists(path):
            continue
        if os.path.isdir(path):
            require(flag in folders, f"cannot write {flag} {path!r}: it is a folder.")
            if not os.listdir(path):
                continue
            require(os.path.isfile(os.path.join(path, "saved_model.pb")),
                    f"{flag} {path!r} is a folder that holds something other than a SavedModel; choose another.")
        elif flag in folders:
            raise KerobustError(f"{flag} {path!r} is a file, not a folder.")
        author = written_by(path)
        if author != writer() and not overwrite:
            origin = f"was written by {author}" if author else "was not written by kerobust"
            raise KerobustError(f"{flag} {path!r} exists and {origin}; pass --overwrite to replace it, or choose "
                                "another path.")


def add_overwrite_argument(parser: argparse.ArgumentParser) -> None:
    """The `--overwrite` flag of every command that writes files the user names."""
    parser.add_argument("--overwrite", action="store_true",
                        help="replace output files that exist and were not written by this command (never an input)")


def mark_saved_model(folder: str) -> None:
    """Stamps a SavedModel folder as written by the current command."""
    marker = os.path.join(folder, SAVED_MODEL_MARKER)
    os.makedirs(os.path.dirname(marker), exist_ok=True)
    with open(marker, "w", encoding="utf-8") as handle:
        json.dump(stamped({}), handle)

