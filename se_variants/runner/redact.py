"""Credentials kept out of everything the runner prints or writes.

A tracking URI or a study's storage may carry a password (``postgresql://user:PASSWORD@host/db``,
``http://user:PASSWORD@host``) or a token in its query string (``...?token=...``), given on the command line or
resolved from the environment (``${oc.env:MLFLOW_URI}``). The job uses the real URL; what reaches a person or a
file -- the console, ``sweep.json``, ``metrics.json`` and ``config.yaml``, checkpoints, the reports, tracker params
and artifacts, a search's report -- goes through :func:`redact` first: the password and such query values become
``***``; the user, host and path stay, so a reader still sees where the data went. A job that a launcher hands to
another process through a file (submitit's pickles) travels redacted, its secrets beside it in the environment
(:func:`split_secrets`, :func:`join_secrets`).
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["redact", "redact_values", "split_secrets", "join_secrets", "REDACTED"]

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


def split_secrets(obj: Any) -> tuple[Any, dict[str, str]]:
    """(``obj`` redacted, redacted string → the real one for every string that changed): what can be written to a
    file, and what must travel another way (the environment) for :func:`join_secrets` to restore it."""
    secrets: dict[str, str] = {}

    def walk(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return type(value)(walk(v) for v in value)
        shown = redact(value)
        if shown != value:
            secrets[shown] = value
        return shown

    return walk(obj), secrets


def join_secrets(obj: Any, secrets: dict[str, str]) -> Any:
    """The inverse of :func:`split_secrets`: every string of ``obj`` that is a key of ``secrets``, replaced."""
    if isinstance(obj, dict):
        return {k: join_secrets(v, secrets) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(join_secrets(v, secrets) for v in obj)
    return secrets.get(obj, obj) if isinstance(obj, str) else obj
