"""Credentials kept out of everything the runner prints or writes.

A tracking URI or a study's storage may carry a password (``postgresql://user:PASSWORD@host/db``,
``http://user:PASSWORD@host``) or a token in its query string (``...?token=...``), given on the command line or
resolved from the environment (``${oc.env:MLFLOW_URI}``). The job uses the real URL; what reaches a person or a
file -- the console, ``sweep.json``, ``metrics.json`` and ``config.yaml``, checkpoints, the reports, tracker params
and artifacts, a search's report -- goes through :func:`redact` first: the password and such query values become
``***``; the user, host and path stay, so a reader still sees where the data went.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["redact", "redact_values", "REDACTED"]

#: what a secret is replaced by
REDACTED = "***"

#: a URL inside any text: scheme://, then everything up to a space or a quote
_URL = re.compile(r"\b[A-Za-z][A-Za-z0-9+.\-]*://[^\s'\"<>]+")
#: query parameters whose values are credentials (password=, pwd=, token=, api_key=, X-Amz-Signature=, sig=, ...)
_SECRET_PARAM = re.compile(r"pass|pwd|secret|token|key|auth|sig|cred", re.IGNORECASE)


#: the user info of a URL: a user without ``:`` or ``/``, then a password up to the last ``@`` (one typed with an
#: unencoded ``@`` or ``/`` is hidden whole; at worst a path after it is hidden too)
_USERINFO = re.compile(r"^(?P<user>[^:/@?#]*):(?P<password>.*)@")


def _url(url: str) -> str:
    scheme, _, rest = url.partition("://")
    info = _USERINFO.match(rest)
    # (host:8080/path@x is a port and a path, not a password)
    if info and info["password"] and not re.fullmatch(r"\d+/.*", info["password"]):
        rest = f"{info['user']}:{REDACTED}@{rest[info.end():]}"
    head, q, query = rest.partition("?")
    if q:
        query, hash_, fragment = query.partition("#")
        pairs = []
        for pair in query.split("&"):
            name, eq, value = pair.partition("=")
            pairs.append(f"{name}={REDACTED}" if eq and value and _SECRET_PARAM.search(name) else pair)
        rest = f"{head}?{'&'.join(pairs)}{hash_}{fragment}"
    return f"{scheme}://{rest}"


def redact(text: Any) -> Any:
    """``text`` with the credentials of every URL in it replaced by ``***`` (a password in the user info, the
    values of query parameters named like credentials); anything that is not a string is returned as it is."""
    if not isinstance(text, str) or "://" not in text:
        return text
    return _URL.sub(lambda m: _url(m.group(0)), text)


def redact_values(obj: Any) -> Any:
    """A copy of ``obj`` (dicts, lists, tuples of plain values: a config, a record, a command line) with every
    string :func:`redact`-ed."""
    if isinstance(obj, dict):
        return {k: redact_values(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(redact_values(v) for v in obj)
    return redact(obj)
