"""Files that hold credentials or personal data: only their owner may read them.

A capture (its folder and files) and the config files the sandbox writes. Files are created
0600 and folders 0700 whatever the umask, a file that was already there is made 0600 before
anything is written into it, and no file is written through a symbolic link: a folder someone
else prepared cannot redirect a write into another file. Imported by the sandbox too: no
dependency beyond the standard library.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO, Literal, overload

FILE_MODE = 0o600
FOLDER_MODE = 0o700


def private_folder(path: str | Path) -> Path:
    """`path` as a folder only its owner may enter, created if missing (with its parents)."""
    folder = Path(path)
    folder.mkdir(mode=FOLDER_MODE, parents=True, exist_ok=True)
    folder.chmod(FOLDER_MODE)  # the umask took bits away, or the folder was there
    return folder


@overload
def open_private(path: str | Path, mode: Literal["w"] = "w") -> IO[str]: ...
@overload
def open_private(path: str | Path, mode: Literal["wb"]) -> IO[bytes]: ...
def open_private(path: str | Path, mode: str = "w") -> IO[str] | IO[bytes]:
    """`path` opened for writing from its start, readable by its owner alone."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags | getattr(os, "O_CLOEXEC", 0), FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)  # a file that was there keeps its mode through O_CREAT
        if mode == "wb":
            return os.fdopen(fd, "wb")
        return os.fdopen(fd, "w", encoding="utf-8")
    except BaseException:
        os.close(fd)
        raise


def write_private(path: str | Path, text: str) -> None:
    """`text` written to `path`, readable by its owner alone; its folder made when missing."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open_private(path) as out:
        out.write(text)
