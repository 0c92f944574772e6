"""Secrets (passwords in backend URLs, the admin token) never printed and never world-readable.

A URL such as ``postgresql://mlsys:hunter2@db/mlsys`` is needed verbatim to connect, and is
otherwise shown to people: in an error, a log line, Dagster's UI or a command line that ``ps``
lists to every user. Everything that shows one goes through :func:`redact_url`; everything
that must keep one on disk writes it with :func:`write_private`; a child process gets one through
its environment (``/proc/<pid>/environ`` is readable by its owner only), never its arguments.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

from pydantic import SecretStr

REDACTED = "***"

# scheme://user:password@host -> scheme://user:***@host (user may be empty: redis://:pw@host).
_USERINFO_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^:/@\s]*):[^@/\s]*@")
# ?password=...&token=... in a query string or a libpq keyword string.
_SECRET_PARAMETER = re.compile(
    r"(?P<key>\b(?:password|passwd|pwd|token|secret|api_key|access_key)=)[^&\s;]+", re.IGNORECASE
)


def redact_url(url: str) -> str:
    """The URL with any password (userinfo or query parameter) replaced by ``***``.

    Works on any text too (an exception's message quoting a URL): every URL in it is redacted.
    """
    url = _USERINFO_PASSWORD.sub(rf"\g<head>:{REDACTED}@", url)
    return _SECRET_PARAMETER.sub(rf"\g<key>{REDACTED}", url)


def has_secret(url: str) -> bool:
    """Whether ``url`` carries a password that :func:`redact_url` would hide."""
    return redact_url(url) != url


def reveal(value: SecretStr | str | None) -> str | None:
    """The plain value of a secret setting, for the one call that connects with it."""
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    return value


def write_private(path: Path, text: str) -> None:
    """Write ``text`` readable by its owner only (0600), replacing the file atomically.

    The temporary file is created 0600 before a byte is written, so the secret is never
    readable by others, not even for a moment; an existing world-readable copy is replaced.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.chmod(tmp, 0o600)  # the umask may have removed bits, never added them: be explicit
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def dagster_secret(url: str) -> str:
    """The value to give a Dagster resource's config field: the URL itself when it holds no
    secret, else an ``EnvVar`` naming a variable that holds it.

    Dagster's UI shows resource config values, but only the name of an ``EnvVar``. The variable
    is exported here, so this process and the run workers it starts resolve it; its name is
    derived from the value, so two settings in one process never overwrite each other.
    """
    if not has_secret(url):
        return url
    import dagster as dg

    name = "MLSYS_SECRET_" + hashlib.sha256(url.encode()).hexdigest()[:12].upper()
    os.environ[name] = url
    return dg.EnvVar(name)
