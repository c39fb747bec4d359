"""Output-path rules shared by ``mcsd run`` and ``mcsd plot`` (one rule for both).

Checked before any work starts, so a run never ends with a file it cannot write:

- the folder must exist (mcsd never creates folders), be a folder and be writable;
- the file name must fit the file system's ``NAME_MAX`` and the path its ``PATH_MAX``;
- the path must hold no control character (no NUL, newline or escape sequence) and no
  undecodable byte (it could not be printed as it is);
- an existing target must be a regular file (never a device, fifo, socket or folder), and
  a symbolic link must point at one;
- the target must not be one of the command's inputs (the priors file and every file of
  its scenario ``base`` chain, or the result file ``mcsd plot`` reads), compared after
  resolving symbolic links and by inode (hard links).

:class:`OutputError` carries a message without the command prefix; :func:`write_error`
words an ``OSError`` raised while writing as one line.
"""

from __future__ import annotations

import errno
import os
import stat
import tomllib
from collections.abc import Iterable
from pathlib import Path

from mcsd.cli.text import has_control, safe

# write_netcdf's temporary file is folder/.<name>.<8 random>.tmp (its name is shortened to
# fit NAME_MAX, so only the path can grow): one dot, one dot, 8 characters and ".tmp".
TEMP_EXTRA = 14
_DEFAULT_NAME_MAX = 255
_DEFAULT_PATH_MAX = 4096


class OutputError(Exception):
    """An output path mcsd refuses (exit 2); the message names the path and the reason."""


def _pathconf(folder: Path, name: str, default: int) -> int:
    try:
        value = os.pathconf(folder, name)
    except (OSError, ValueError, AttributeError):
        return default
    return value if value and value > 0 else default


def name_max(folder: Path) -> int:
    """The longest file name (bytes) the file system of ``folder`` takes."""
    return _pathconf(folder, "PC_NAME_MAX", _DEFAULT_NAME_MAX)


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISFIFO(mode):
        return "a fifo (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def priors_chain(priors) -> list[Path]:
    """The priors file of ``priors`` and every file of its scenario ``base`` chain.

    The loader does not keep the chain, so it is recomputed here from the ``base`` keys
    (resolved the way the loader resolves them); a file that cannot be read ends the chain.
    """
    source = getattr(priors, "source_path", None)
    if not source:
        return []
    try:
        from mcsd.priors.loader import _resolve
    except ImportError:  # pragma: no cover - the loader's resolver moved
        _resolve = None  # type: ignore[assignment]
    chain: list[Path] = []
    path: Path | None = Path(source)
    while path is not None and path not in chain and len(chain) < 64:
        chain.append(path)
        try:
            doc = tomllib.loads(path.read_bytes().decode("utf-8"))
        except (OSError, ValueError):
            break
        scenario = doc.get("scenario")
        base = scenario.get("base") if isinstance(scenario, dict) else None
        if not isinstance(base, str):
            break
        try:
            if _resolve is not None:
                path = _resolve(base, relative_to=path.parent)
            else:  # pragma: no cover
                path = (path.parent / base).resolve()
        except Exception:  # noqa: BLE001 - an unresolvable base ends the chain
            path = None
    return chain


def _same(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def check_output(
    path: str | os.PathLike[str],
    inputs: Iterable[str | os.PathLike[str]] = (),
    *,
    atomic: bool = True,
) -> Path:
    """Refuse an output path (``OutputError``) that breaks a rule above; return it as Path.

    ``atomic``: written through a temporary file in the folder and renamed (``mcsd run``);
    else opened and written in place (``mcsd plot``), so the file itself must be writable.
    """
    text = os.fspath(path)
    shown = safe(text)
    if "\x00" in text:
        raise OutputError(f"output path {shown} holds a NUL byte")
    if has_control(text):
        raise OutputError(f"output path {shown} holds a control or undecodable character")
    out = Path(text)
    folder = out.parent if str(out.parent) else Path(".")
    try:
        folder_stat = os.stat(folder)
    except FileNotFoundError:
        raise OutputError(f"output folder does not exist: {safe(folder)}") from None
    except NotADirectoryError:
        raise OutputError(f"output folder is not a folder: {safe(folder)}") from None
    except OSError as exc:
        raise OutputError(f"output folder {safe(folder)}: {exc.strerror}") from None
    if not stat.S_ISDIR(folder_stat.st_mode):
        raise OutputError(f"output folder is not a folder: {safe(folder)}")
    name = out.name
    if name in ("", ".", "..") or text.endswith(os.sep):
        raise OutputError(f"--out is a folder: {shown}")
    limit = name_max(folder)
    size = len(os.fsencode(name))
    if size > limit:
        raise OutputError(
            f"output file name is {size} bytes, longer than the file system's limit of "
            f"{limit}: {shown}"
        )
    path_limit = _pathconf(folder, "PC_PATH_MAX", _DEFAULT_PATH_MAX)
    size = len(os.fsencode(text)) + (TEMP_EXTRA if atomic else 0)
    if size >= path_limit:
        raise OutputError(
            f"output path is {len(os.fsencode(text))} bytes, too long for the file system's "
            f"limit of {path_limit}: {shown}"
        )
    try:
        link = os.lstat(out)
    except FileNotFoundError:
        link = None
    except OSError as exc:
        raise OutputError(f"--out {shown}: {exc.strerror}") from None
    target = None
    if link is not None:
        try:
            target = os.stat(out)
        except FileNotFoundError:
            raise OutputError(f"--out {shown} is a symbolic link to a missing file") from None
        except OSError as exc:
            raise OutputError(f"--out {shown}: {exc.strerror}") from None
        if not stat.S_ISREG(target.st_mode):
            if stat.S_ISDIR(target.st_mode):
                raise OutputError(f"--out is a folder: {shown}")
            raise OutputError(f"--out {shown} is {_kind(target.st_mode)}, not a regular file")
        for given in inputs:
            try:
                source = os.stat(given)
            except (OSError, ValueError):
                continue
            if _same(source, target) or _same(source, link):
                raise OutputError(
                    f"--out {shown} is an input of this command ({safe(os.fspath(given))}); "
                    "choose another output file"
                )
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"output folder is not writable: {safe(folder)}")
    if target is not None and not atomic and not os.access(out, os.W_OK):
        raise OutputError(f"--out {shown} is not writable")
    return out


def write_error(path: str | os.PathLike[str], exc: BaseException) -> str:
    """One line naming the file and the OS error of a failed write (no traceback)."""
    code = getattr(exc, "errno", None)
    reason = getattr(exc, "strerror", None)
    if not reason and isinstance(code, int) and code in errno.errorcode:
        reason = os.strerror(code)
    if not reason:
        reason = " ".join(str(exc).split()) or type(exc).__name__
    return f"cannot write {safe(os.fspath(path))}: {safe(reason)}"
