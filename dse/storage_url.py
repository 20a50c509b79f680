"""Where studies live: the storage URL, its artifact folders, and the checks a reader makes.

Light on purpose (no Optuna, no SQLAlchemy): every command needs these, the read-only ones
among them answer in a fraction of a second.

>>> mask_url("postgresql+psycopg://dse:secret@db:5432/dse")
'postgresql+psycopg://dse:***@db:5432/dse'
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from dse.errors import DseError

DEFAULT_STORAGE = "sqlite:///studies/dse.db"


#: ``user:password@`` in a URL (group 1: up to the user name)
_PASSWORD = re.compile(r"(://[^:/@]+):[^@/]*@")


def mask_url(url: str) -> str:
    """The URL with any password replaced by ``***`` (for logs and errors)."""
    return _PASSWORD.sub(r"\1:***@", url)


def storage_url(url: str | None = None) -> str:
    """``--storage``, else ``DSE_STORAGE``, else ``sqlite:///studies/dse.db``."""
    return url or os.environ.get("DSE_STORAGE") or DEFAULT_STORAGE


def is_sqlite(url: str) -> bool:
    return storage_url(url).startswith("sqlite")


def sqlite_path(url: str) -> Path | None:
    """The database file of a ``sqlite:///`` URL (None for other URLs and in-memory SQLite)."""
    url = storage_url(url)
    return Path(url.removeprefix("sqlite:///")) if url.startswith("sqlite:///") else None


def artifact_root(url: str | None = None) -> Path:
    """Where study folders live: beside a SQLite file, else ``DSE_ARTIFACTS`` or ``./studies``."""
    path = sqlite_path(storage_url(url))
    if path is not None:
        return path.resolve().parent
    return Path(os.environ.get("DSE_ARTIFACTS", "studies")).resolve()


def storage_identity(url: str | None = None) -> str:
    """The database a URL names, the same however it is spelt: a SQLite file by its absolute
    path; a server database by its URL without password or driver (``postgresql+psycopg://``
    and ``postgresql://`` name one database)."""
    url = storage_url(url)
    path = sqlite_path(url)
    if path is not None:
        return f"sqlite:///{path.resolve()}"
    return re.sub(r"^(\w+)\+\w+://", r"\1://", _PASSWORD.sub(r"\1@", url))


def artifact_dir(url: str | None = None) -> Path:
    """Optuna's artifact store of the storage (trial reports for the dashboard): ``<root>/artifacts``.

    One folder per storage, not per study: the dashboard serves every study of a storage
    from one store, and Optuna names the files by artifact id, so studies cannot collide.
    """
    return artifact_root(url) / "artifacts"


def check_readable(url: str) -> None:
    """For commands that only read: a SQLite file that does not exist is an error, not a new
    empty database (a typo in --storage would otherwise show "no studies"), and so is a file
    that is not SQLite."""
    path = sqlite_path(url)
    if path is None:
        return
    if not path.is_file():
        raise DseError(f"storage {url}: no database at {path} (commands that read create none; "
                       f"check --storage / DSE_STORAGE, or run a study first)")
    if path.stat().st_size:
        with open(path, "rb") as handle:
            if handle.read(16) != b"SQLite format 3\x00":
                raise DseError(f"storage {url}: {path} is not a SQLite database")
