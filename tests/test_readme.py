"""Every code block of the README is run or checked, so what a newcomer copies works.

- ```python blocks run in a subprocess against the test Redis (``redis://localhost:6379/0`` in
  the block is replaced by its URL), with articles already in ``newsflow:articles``. The
  examples loop forever, as real consumers do: the test waits for one printed line per
  article, lets the block sit idle longer than redis-py's default socket timeout (5 s), adds
  one more article, waits for its line, then stops the process. The block must not have
  failed (no traceback), and must have acknowledged everything it was given.
- ```sh / ```bash blocks: every command line is checked. ``newsflow ...``: each subcommand's
  ``--help`` exits 0 and names each option used; ``make T``: the target exists in the
  Makefile; ``docker compose ...``: the services and profiles exist in docker-compose.yml
  (and the command a service runs is checked as above); ``redis-cli ...``: run against the
  test Redis (a ``BLOCK`` read must still be waiting after a second); ``cp``, ``python``:
  the files they name exist. Any other command fails the test: add a checker here.
- ```text blocks: each ``newsflow: <setting>: <problem>`` line is an error the configuration
  really gives (``(...)`` and ``...`` stand for the rest of the message).
- Blocks without a language (diagrams, the layout): the ``newsflow:`` keys they name exist in
  the code, the ``newsflow <command>`` they name exist, and a layout's paths exist.

A block that cannot be checked is marked, on the line before its fence, with
``<!-- not-tested: why -->``; use it sparingly.
"""

from __future__ import annotations

import json
import os
import queue
import re
import secrets
import shlex
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import IO

import pytest
import redis
import yaml

from pipeline import keys
from pipeline.errors import ConfigError, DropArticle, PipelineError, RetryableError
from pipeline.local.redis_server import RedisServer
from pipeline.publish import Publisher
from pipeline.settings import Settings
from tests.commands import ROOT, newsflow, worker_env
from tests.factories import entry_for, make_article

README = ROOT / "README.md"
README_URL = "redis://localhost:6379/0"
SKIP_MARK = re.compile(r"^<!--\s*not-tested:\s*(\S.*?)\s*-->$")
SHELL_LANGUAGES = {"sh", "bash", "shell", "console"}
DEFAULT_SOCKET_TIMEOUT_S = 5.0
"""redis-py 8's default socket_timeout (checked by test_redis_py_default_socket_timeout)."""
IDLE_S = 6.5
"""How long a Python example must survive an idle stream: more than redis-py's default 5 s
socket timeout (a ``block=5000`` read with it raises TimeoutError)."""


@dataclass(frozen=True)
class Block:
    language: str
    code: str
    line: int
    """1-based line of the opening fence."""
    skip: str
    """The reason of a ``<!-- not-tested: ... -->`` mark, else empty."""

    @property
    def name(self) -> str:
        return f"README.md:{self.line}:{self.language or 'plain'}"


def readme_blocks(text: str) -> list[Block]:
    """The fenced code blocks of a Markdown text, in order."""
    blocks: list[Block] = []
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        fence = re.match(r"^(```+|~~~+)\s*([\w+-]*)", lines[index])
        if not fence:
            index += 1
            continue
        start, marker, language = index, fence.group(1), fence.group(2).lower()
        body: list[str] = []
        index += 1
        while index < len(lines) and not lines[index].startswith(marker):
            body.append(lines[index])
            index += 1
        previous = next(
            (lines[i].strip() for i in range(start - 1, -1, -1) if lines[i].strip()), ""
        )
        mark = SKIP_MARK.match(previous)
        blocks.append(
            Block(language, "\n".join(body) + "\n", start + 1, mark.group(1) if mark else "")
        )
        index += 1
    return blocks


BLOCKS = readme_blocks(README.read_text(encoding="utf-8"))


def _of(*languages: str) -> list[Block]:
    return [b for b in BLOCKS if b.language in languages and not b.skip]


def test_the_parser_finds_blocks_and_marks() -> None:
    text = "a\n```python\nx = 1\n```\n\n<!-- not-tested: needs docker -->\n\n```sh\nls\n```\n"
    first, second = readme_blocks(text)
    assert (first.language, first.code, first.line, first.skip) == ("python", "x = 1\n", 2, "")
    assert (second.language, second.skip) == ("sh", "needs docker")


def test_every_block_has_a_checker() -> None:
    known = {"python", "text", ""} | SHELL_LANGUAGES
    assert BLOCKS
    unchecked = [b.name for b in BLOCKS if b.language not in known and not b.skip]
    assert not unchecked, f"blocks in a language this test cannot check: {unchecked}"
    assert _of("python"), "the README has Python examples"


# ---------------------------------------------------------------------------------------------
# Python blocks


def _fill(client: redis.Redis, settings: Settings, count: int, start: int = 0) -> list[str]:
    """Publish ``count`` distinct articles; their URLs."""
    publisher = Publisher(client, settings)
    urls = []
    for i in range(start, start + count):
        url = f"https://readme.example/story-{i}"
        text = " ".join(secrets.token_hex(4) for _ in range(80))  # no near-duplicates
        publisher.publish_article(make_article(url, text=text), entry_for(url))
        urls.append(url)
    return urls


class Lines:
    """The lines a process prints, read by a thread (so waits can time out)."""

    def __init__(self, stream: IO[str]) -> None:
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for(self, count: int, timeout_s: float) -> list[str]:
        deadline = time.monotonic() + timeout_s
        while len(self.lines) < count:
            try:
                line = self._queue.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                break
            if line is None:
                break
            self.lines.append(line)
        return self.lines


def _wait_until_acked(client: redis.Redis, timeout_s: float) -> None:
    """Until no group has pending entries (the example acks after it prints), or timeout."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        groups = client.xinfo_groups(keys.ARTICLES_STREAM)
        if groups and all(g["pending"] == 0 for g in groups):
            return
        time.sleep(0.05)


def check_block_times(block: Block) -> None:
    """A blocking stream read (``block=`` ms, ``block_ms=``) must end a second before the
    client's socket timeout (``socket_timeout=`` s; redis-py's default is 5), else an idle
    stream raises ``TimeoutError: Timeout reading from socket``: a race at equal values, so
    the run below may miss it."""
    timeouts = [float(t) for t in re.findall(r"socket_timeout\s*=\s*([0-9.]+)", block.code)]
    socket_timeout = min(timeouts, default=DEFAULT_SOCKET_TIMEOUT_S)
    for block_ms in re.findall(r"\bblock(?:_ms)?\s*=\s*([0-9_]+)", block.code):
        assert int(block_ms) / 1000 + 1 <= socket_timeout, (
            f"{block.name}: block={block_ms} ms with a {socket_timeout} s socket timeout"
        )


def test_redis_py_default_socket_timeout() -> None:
    defaults = redis.Redis(port=1).connection_pool.connection_kwargs
    assert defaults.get("socket_timeout", DEFAULT_SOCKET_TIMEOUT_S) == DEFAULT_SOCKET_TIMEOUT_S


def test_block_time_check_refuses_the_old_example() -> None:
    old = 'r = redis.Redis.from_url(URL)\nr.xreadgroup("g", "c", {"s": ">"}, block=5000)\n'
    with pytest.raises(AssertionError):
        check_block_times(Block("python", old, 1, ""))
    check_block_times(Block("python", old.replace("URL)", "URL, socket_timeout=10)"), 1, ""))


@pytest.mark.parametrize("block", _of("python"), ids=lambda b: b.name)
def test_python_block_runs(
    block: Block,
    redis_server: RedisServer,
    redis_client: redis.Redis,
    settings: Settings,
    tmp_path: Path,
) -> None:
    """A consumer example (it reads ``newsflow:articles``) must print a line per article, wait
    through an idle stream, go on with a new article and ack all; any other block must exit 0
    within a minute."""
    check_block_times(block)
    code = block.code.replace(README_URL, redis_server.url)
    _fill(redis_client, settings, 3)
    env = worker_env(redis_server.url, tmp_path / "config", PYTHONUNBUFFERED="1")
    process = subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    if keys.ARTICLES_STREAM not in block.code:
        _, stderr = process.communicate(timeout=60)
        assert process.returncode == 0, f"{block.name} exited {process.returncode}: {stderr}"
        return
    assert README_URL in block.code, f"{block.name}: connect with {README_URL!r} (substituted)"
    out = Lines(process.stdout)  # type: ignore[arg-type]
    try:
        assert len(out.wait_for(3, 30)) == 3, f"{block.name} printed {out.lines}"
        time.sleep(IDLE_S)  # an idle stream: the example must keep waiting, not fail
        assert process.poll() is None, f"{block.name} stopped while the stream was idle"
        _fill(redis_client, settings, 1, start=3)
        assert len(out.wait_for(4, 30)) == 4, f"{block.name} printed {out.lines}"
        _wait_until_acked(redis_client, 10)
    finally:
        process.terminate()
        try:
            _, stderr = process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            _, stderr = process.communicate()
        print(stderr, file=sys.stderr)  # shown when the test fails
    assert "Traceback" not in stderr, stderr
    assert all("A title" in line for line in out.lines), f"one line per article: {out.lines}"
    groups = redis_client.xinfo_groups(keys.ARTICLES_STREAM)
    assert groups, f"{block.name} reads through a consumer group"
    assert all(g["pending"] == 0 for g in groups), f"{block.name} left entries unacked: {groups}"


# ---------------------------------------------------------------------------------------------
# Shell blocks


def _commands(code: str) -> Iterator[list[str]]:
    """The command lines of a shell block as argv lists: continuations joined, comments and
    leading VAR=value assignments removed."""
    for line in code.replace("\\\n", " ").splitlines():
        argv = shlex.split(line, comments=True)
        while argv and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", argv[0]):
            argv.pop(0)
        if argv:
            yield argv


@cache
def _help(*path: str) -> tuple[int, str]:
    done = subprocess.run(
        newsflow(*path, "--help"),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env=_help_env(),
    )
    return done.returncode, done.stdout + done.stderr


def _help_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSFLOW_")}
    env.update(COLUMNS="250", TERM="dumb", NO_COLOR="1", PYTHONPATH=str(ROOT))
    return env


def check_newsflow(args: list[str]) -> None:
    """``newsflow args...``: the (sub)commands exist and name every option used."""
    path: list[str] = []
    rest = list(args)
    while rest and not rest[0].startswith("-"):
        candidate = [*path, rest[0]]
        code, text = _help(*candidate)
        listed = not path or re.search(rf"^\W*{re.escape(rest[0])}\b", _help(*path)[1], re.M)
        if code != 0 or not listed:
            break
        path = candidate
        rest.pop(0)
    assert path, f"`newsflow {' '.join(args)}`: no such command"
    code, text = _help(*path)
    assert code == 0, f"`newsflow {' '.join(path)} --help` exited {code}: {text}"
    for token in rest:
        if token == "--":
            break
        if token.startswith("-"):
            option = token.split("=", 1)[0]
            assert re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", text), (
                f"`newsflow {' '.join(path)}` has no option {option}"
            )


def _makefile_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    return {m.group(1) for m in re.finditer(r"^([A-Za-z0-9_.-]+)\s*:(?!=)", text, re.M)}


def check_make(args: list[str]) -> None:
    targets = [a for a in args if not a.startswith("-") and "=" not in a]
    assert targets, "`make` alone: name a target"
    missing = set(targets) - _makefile_targets()
    assert not missing, f"Makefile has no target {sorted(missing)}"


def _compose() -> dict[str, object]:
    loaded = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def check_docker(args: list[str]) -> None:
    """``docker compose [--profile P] up [--scale S=N] [S...]`` / ``run [--rm] S command``."""
    assert args[:1] == ["compose"], f"`docker {' '.join(args)}`: only docker compose is checked"
    services: dict[str, dict[str, object]] = _compose()["services"]  # type: ignore[assignment]
    rest = _compose_options(args[1:], services)
    assert rest, "docker compose: no command"
    command, rest = rest[0], rest[1:]
    if command == "run":
        named = _compose_run(rest)
    elif command in ("up", "down", "ps", "logs", "build", "pull", "restart", "stop", "start"):
        named = _compose_services(rest)
    else:
        pytest.fail(f"docker compose {command}: no checker for this subcommand")
    missing = set(named) - set(services)
    assert not missing, f"docker-compose.yml has no service {sorted(missing)}"


def _compose_options(rest: list[str], services: dict[str, dict[str, object]]) -> list[str]:
    """Check ``--profile``s; the arguments after the global options."""
    profiles = {p for s in services.values() for p in s.get("profiles", [])}  # type: ignore[attr-defined]
    rest = list(rest)
    while rest and rest[0].startswith("-"):
        option = rest.pop(0)
        if option == "--profile":
            profile = rest.pop(0)
            assert profile in profiles, f"docker-compose.yml has no profile {profile!r}"
        elif option in ("-f", "--file", "--env-file", "-p", "--project-name"):
            rest.pop(0)
    return rest


def _compose_run(rest: list[str]) -> list[str]:
    """``run [options] SERVICE [command...]``: the service; the command is checked too."""
    rest = list(rest)
    while rest and rest[0].startswith("-"):
        option = rest.pop(0)
        if option in ("-e", "--env", "-v", "--volume", "-w", "--workdir", "--name"):
            rest.pop(0)
    assert rest, "docker compose run: no service"
    if rest[1:]:
        check_command(rest[1:])
    return rest[:1]


def _compose_services(rest: list[str]) -> list[str]:
    """The services named by ``up``-like arguments (``--scale S=N`` included)."""
    named: list[str] = []
    rest = list(rest)
    while rest:
        token = rest.pop(0)
        if token == "--scale":
            named.append(rest.pop(0).split("=", 1)[0])
        elif token.startswith("--scale="):
            named.append(token.split("=", 2)[1])
        elif not token.startswith("-"):
            named.append(token)
    return named


def check_redis_cli(args: list[str], port: int) -> None:
    """Run it against the test Redis: a BLOCK read must still wait after a second, any other
    command must succeed with some output."""
    argv = [_redis_cli(), "-p", str(port), *args]
    blocking = any(a.upper() == "BLOCK" for a in args)
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = process.communicate(timeout=1 if blocking else 10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        assert blocking, f"`redis-cli {' '.join(args)}` did not finish"
        return
    assert not blocking, f"`redis-cli {' '.join(args)}` returned at once: {out} {err}"
    assert process.returncode == 0 and out.strip(), f"`redis-cli {' '.join(args)}`: {out} {err}"
    assert not out.startswith(("ERR", "(error)")), out


@cache
def _redis_cli() -> str:
    from shutil import which

    from pipeline.local.redis_server import find_redis_server

    beside = Path(find_redis_server()).with_name("redis-cli")
    found = str(beside) if beside.exists() else which("redis-cli")
    if not found:
        pytest.skip("no redis-cli beside redis-server or on PATH")
    return found


def check_command(argv: list[str], port: int = 0) -> None:
    program, args = Path(argv[0]).name, argv[1:]
    if program == "newsflow":
        check_newsflow(args)
    elif program == "make":
        check_make(args)
    elif program == "docker":
        check_docker(args)
    elif program == "redis-cli":
        assert port, "redis-cli: no test Redis"
        check_redis_cli(args, port)
    elif program == "cp":
        assert (ROOT / args[0]).exists(), f"`cp`: {args[0]} does not exist"
    elif re.fullmatch(r"python[0-9.]*", program):
        if args and not args[0].startswith("-"):
            assert (ROOT / args[0]).is_file(), f"`{program}`: {args[0]} does not exist"
    else:
        pytest.fail(f"no checker for `{' '.join(argv)}`: add one to tests/test_readme.py")


@pytest.mark.parametrize("block", _of(*SHELL_LANGUAGES), ids=lambda b: b.name)
def test_shell_block_commands_exist(
    block: Block, redis_server: RedisServer, redis_client: redis.Redis, settings: Settings
) -> None:
    _fill(redis_client, settings, 2)
    commands = list(_commands(block.code))
    assert commands, f"{block.name} holds no command"
    for argv in commands:
        check_command(argv, port=redis_server.port)


def test_command_checks_catch_mistakes() -> None:
    """The checkers refuse what the README examples got wrong, or could."""
    check_newsflow(["tail", "--pretty"])
    check_newsflow(["feeds", "add", "https://x.example/feed", "--interval", "60"])
    check_newsflow(["consume", "--group", "g", "--", "python", "sink.py", "--weird"])
    for wrong in (["tail", "--prety"], ["nosuch"], ["feeds", "add", "--nosuch"]):
        with pytest.raises(AssertionError):
            check_newsflow(wrong)
    with pytest.raises(AssertionError):
        check_make(["nosuch"])
    with pytest.raises(AssertionError):
        check_docker(["compose", "run", "--rm", "nosuch", "newsflow", "tail"])
    with pytest.raises(AssertionError):
        check_docker(["compose", "--profile", "nosuch", "up"])
    with pytest.raises(AssertionError):
        check_docker(["compose", "run", "--rm", "worker", "newsflow", "tail", "--nosuch"])


# ---------------------------------------------------------------------------------------------
# Text blocks: configuration errors


def _config_error(tmp_path: Path, where: str, value: str) -> str | None:
    """The message of the configuration error a setting gets for ``value``, or None."""
    env = {"NEWSFLOW_CONFIG_DIR": str(tmp_path / "config")}
    (tmp_path / "config").mkdir(exist_ok=True)
    toml = tmp_path / "config" / "newsflow.toml"
    toml.unlink(missing_ok=True)
    variable = re.match(r"^(NEWSFLOW_[A-Z0-9_]+)", where)
    key = re.match(r"^config/newsflow\.toml: ([\w.]+)$", where)
    if variable:
        env[variable.group(1)] = value
    elif key:
        *section, name = key.group(1).split(".")
        header = f"[{'.'.join(section)}]\n" if section else ""
        toml.write_text(f"{header}{name} = {json.dumps(value)}\n", encoding="utf-8")
    else:
        return None
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        Settings.load(env)
    except ConfigError as exc:
        return f"newsflow: {exc}".replace(str(tmp_path / "config"), "config")
    finally:
        os.chdir(cwd)
    return None


@pytest.mark.parametrize("block", _of("text"), ids=lambda b: b.name)
def test_text_block_error_lines_are_real(block: Block, tmp_path: Path) -> None:
    lines = [line for line in block.code.splitlines() if line.startswith("newsflow: ")]
    assert lines, f"{block.name}: no `newsflow: ...` line to check (mark it not-tested?)"
    for line in lines:
        setting = re.match(r"(NEWSFLOW_\w+ \([^)]*\)|config/[\w.]+\.toml: [\w.]+): ", line[10:])
        assert setting, f"{block.name}: {line!r} names no setting"
        where = setting.group(1)
        pattern = re.escape(line).replace(re.escape("(...)"), ".*").replace(re.escape("..."), ".*")
        given = re.findall(r"got '([^']*)'", line)
        candidates = [*given, "http://example.com", "-1", "nan", "x"]
        seen = []
        for value in candidates:
            message = _config_error(tmp_path, where, value)
            seen.append(message)
            if message and re.fullmatch(pattern, message):
                break
        else:
            pytest.fail(f"{block.name}: no configuration gives {line!r}; got {seen}")


# ---------------------------------------------------------------------------------------------
# Plain blocks: diagrams and the layout


def _code_text() -> str:
    files = [*(ROOT / "pipeline").rglob("*.py"), *(ROOT / "workers").rglob("*.py")]
    return "\n".join(f.read_text(encoding="utf-8") for f in files)


@pytest.mark.parametrize("block", _of(""), ids=lambda b: b.name)
def test_plain_block_names_real_keys_commands_and_paths(block: Block) -> None:
    code = _code_text()
    for key in set(re.findall(r"newsflow:[a-z][a-z:]*", block.code)):
        assert f'"{key}' in code, f"{block.name}: no key {key} in pipeline/ or workers/"
    for command in set(re.findall(r"\bnewsflow ([a-z]+)\b", block.code)):
        assert _help(command)[0] == 0, f"{block.name}: no command `newsflow {command}`"
    lines = block.code.splitlines()
    if lines and re.match(r"^[\w.-]+/\s", lines[0]):  # a layout: folder/  description
        _check_layout(block, lines)


def _check_layout(block: Block, lines: list[str]) -> None:
    top: Path | None = None
    for line in lines:
        entry = re.match(r"^( *)(\S.*?)(?: {2,}|$)", line)
        if not entry or len(entry.group(1)) > 4:
            continue  # a description's continuation
        indent, names = len(entry.group(1)), entry.group(2).split()
        parent = ROOT if indent == 0 else top
        assert parent is not None, f"{block.name}: {line!r} has no folder above it"
        for name in names:
            if "/" in name or "." in name:
                found = list(parent.glob(name.rstrip("/")))
            else:
                found = [parent / f"{name}.py"] if (parent / f"{name}.py").exists() else []
            assert found, f"{block.name}: {parent.relative_to(ROOT) / name} does not exist"
        if indent == 0 and len(names) == 1 and names[0].endswith("/"):
            top = ROOT / names[0].rstrip("/")


# ---------------------------------------------------------------------------------------------
# The reasons table


def _reasons() -> set[str]:
    found: set[str] = set()
    stack: list[type[PipelineError]] = [DropArticle, RetryableError]
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        if cls not in (DropArticle, RetryableError):
            found.add(cls.reason)
    return found | {"worker_lost"}


def test_every_outcome_reason_has_one_row_in_the_reasons_table() -> None:
    text = README.read_text(encoding="utf-8")
    section = text.split("### Outcome reasons", 1)[1].split("\n### ", 1)[0]
    rows = re.findall(r"^\| `([a-z_]+)` \|", section, re.M)
    assert sorted(rows) == sorted(_reasons()), "one row per reason, each once"
    for gone in ("(`too_short`)", "(`wall`)"):
        assert gone not in text, f"{gone} is not a recorded reason"
