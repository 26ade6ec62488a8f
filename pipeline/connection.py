"""Redis connections: built from a URL, checked, with the password masked in every error;
the one place where redis-py errors become :class:`~pipeline.errors.RedisUnavailable`; and
:class:`LuaScript`, the one way a Lua script is loaded and called.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections.abc import Iterator, Mapping, Sequence
from functools import cache
from importlib.resources import files
from typing import Any

import redis

from pipeline.errors import RedisUnavailable

_MASK = "***"
_SECRET_PARAMETER = re.compile(
    r"([?&;])(password|pass|passwd|pwd|auth|token|secret)=[^&;#]*", re.IGNORECASE
)


def mask_url(url: str) -> str:
    """The URL with every password in it replaced by ``***``; never raises.

    Masked: the userinfo's password (after the user name's ``:``, up to the ``@`` before
    the host) and the value of any ``password``, ``pass``, ``passwd``, ``pwd``, ``auth``,
    ``token`` or ``secret`` query parameter (redis-py passes unknown query parameters on as
    connection options, ``password`` included).

    The host follows the *last* ``@`` (as urllib and redis-py split the authority), so a
    password holding ``@`` is masked whole. A password holding ``/``, ``?`` or ``#`` ends
    urllib's authority early; to never show its tail, the last ``@`` of the whole URL is
    taken: a URL with an ``@`` in its path or query is then masked more than needed.
    """
    head, sep, rest = url.partition("://")
    if sep:
        userinfo, at, host_and_rest = rest.rpartition("@")
        user, colon, _password = userinfo.partition(":")
        if at and colon:
            url = f"{head}{sep}{user}:{_MASK}@{host_and_rest}"
    return _SECRET_PARAMETER.sub(rf"\1\2={_MASK}", url)


def connect_redis(url: str, *, timeout_s: float = 5.0) -> redis.Redis:
    """A Redis client for ``url``, answering PING within ``timeout_s``.

    Raises:
        RedisUnavailable: the server cannot be reached; the message names the masked URL.
    """
    try:
        client = redis.Redis.from_url(
            url,
            socket_connect_timeout=timeout_s,
            socket_timeout=max(timeout_s, 10.0),
            health_check_interval=25,
            retry_on_timeout=True,
        )
        client.ping()
    except (redis.RedisError, ValueError) as exc:
        raise RedisUnavailable(f"cannot reach Redis at {mask_url(url)}: {exc}") from exc
    return client


@contextlib.contextmanager
def redis_errors(what: str, *, url: str = "") -> Iterator[None]:
    """Translate a redis-py error inside the block into ``RedisUnavailable("<what>: <error>")``.

    Raises:
        RedisUnavailable: Redis could not be reached, timed out or refused the command.
    """
    try:
        yield
    except redis.RedisError as exc:
        raise RedisUnavailable(f"{what}: {exc}", url=url) from exc


class LuaScript:
    """A Lua script kept beside the module that runs it, read and hashed once per process.

    ``keys`` and ``args`` name the script's KEYS and ARGV, in order: the script reads them
    as ``K.<name>`` and ``A.<name>`` (a generated prelude binds them), and a variable-length
    rest, if any, from index ``K_REST`` / ``A_REST`` on. Callers pass mappings by the same
    names, so the order is written down once, here. ``libraries`` are Lua files of shared
    functions (package, file name) put before the script.
    """

    def __init__(
        self,
        package: str,
        name: str,
        *,
        keys: Sequence[str] = (),
        args: Sequence[str] = (),
        libraries: Sequence[tuple[str, str]] = (),
    ) -> None:
        self.name = name
        self.keys = tuple(keys)
        self.args = tuple(args)
        parts = [_prelude(self.keys, self.args), *(_lua(*lib) for lib in libraries)]
        self.source = "\n".join([*parts, _lua(package, name)])
        self.sha = hashlib.sha1(self.source.encode()).hexdigest()

    def __call__(
        self,
        client: redis.Redis,
        keys: Mapping[str, str] | None = None,
        args: Mapping[str, Any] | None = None,
        *,
        more_keys: Sequence[str] = (),
        more_args: Sequence[Any] = (),
    ) -> Any:
        """Run the script (EVALSHA; EVAL once if the server does not have it yet).

        Raises:
            redis.RedisError: as redis-py raises it (callers translate with redis_errors).
        """
        ordered_keys = [*_in_order(self.keys, keys or {}, self.name), *more_keys]
        ordered_args = [*_in_order(self.args, args or {}, self.name), *more_args]
        try:
            return client.evalsha(self.sha, len(ordered_keys), *ordered_keys, *ordered_args)
        except redis.exceptions.NoScriptError:
            return client.eval(self.source, len(ordered_keys), *ordered_keys, *ordered_args)


def flat_fields(fields: Mapping[str, Any]) -> list[Any]:
    """Stream fields as the flat name, value, ... list XADD (and a script's ARGV tail) takes."""
    return [item for pair in fields.items() for item in pair]


@cache
def _lua(package: str, name: str) -> str:
    return files(package).joinpath(name).read_text(encoding="utf-8")


def _prelude(keys: tuple[str, ...], args: tuple[str, ...]) -> str:
    bound_keys = ", ".join(f"{name} = KEYS[{i}]" for i, name in enumerate(keys, 1))
    bound_args = ", ".join(f"{name} = ARGV[{i}]" for i, name in enumerate(args, 1))
    return (
        f"local K = {{{bound_keys}}}\nlocal A = {{{bound_args}}}\n"
        f"local K_REST, A_REST = {len(keys) + 1}, {len(args) + 1}"
    )


def _in_order(names: tuple[str, ...], values: Mapping[str, Any], script: str) -> list[Any]:
    if set(values) != set(names):
        raise ValueError(f"{script} takes {sorted(names)}, got {sorted(values)}")
    return [values[name] for name in names]
