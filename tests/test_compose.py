"""Static checks of the deployment files: docker-compose.yml, Dockerfile, config/redis.conf.

No Docker engine is needed: the files are parsed and checked against the project (the
subcommands registered on the typer app, the paths the Dockerfile copies).
"""

from __future__ import annotations

import json
import pathlib
import re
import shlex
import tomllib
from typing import Any

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
REDIS_CONF = ROOT / "config" / "redis.conf"
ENV_EXAMPLE = ROOT / ".env.example"

CELERY_APP = ["celery", "-A", "workers.app"]


def _compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert isinstance(data, dict), "docker-compose.yml must be a mapping"
    return data


def _services() -> dict[str, dict[str, Any]]:
    services = _compose().get("services")
    assert isinstance(services, dict) and services, "no services in docker-compose.yml"
    return services


def _tokens(command: object) -> list[str]:
    if isinstance(command, str):
        return shlex.split(command)
    assert isinstance(command, list), f"command must be a list or a string: {command!r}"
    return [str(token) for token in command]


def _dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with backslash continuations joined."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        keyword, _, rest = line.partition(" ")
        instructions.append((keyword.upper(), rest.strip()))
    return instructions


def _dockerfile_cmd() -> list[str]:
    cmds = [args for keyword, args in _dockerfile_instructions() if keyword == "CMD"]
    assert cmds, "Dockerfile has no CMD"
    cmd = cmds[-1]
    if cmd.startswith("["):
        parsed = json.loads(cmd)
        assert isinstance(parsed, list)
        return [str(token) for token in parsed]
    return shlex.split(cmd)


def _is_newsflow_service(service: dict[str, Any]) -> bool:
    image = str(service.get("image", ""))
    return "build" in service or image.split(":")[0] == "newsflow"


def _newsflow_services() -> dict[str, dict[str, Any]]:
    return {name: svc for name, svc in _services().items() if _is_newsflow_service(svc)}


def _cli_subcommands() -> set[str]:
    import typer.main

    from workers.cli.main import app

    click_group = typer.main.get_command(app)
    return set(getattr(click_group, "commands", {}))


def _redis_conf_directives() -> list[list[str]]:
    directives: list[list[str]] = []
    for raw in REDIS_CONF.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            directives.append(line.split())
    return directives


# ------------------------------------------------------------------ docker-compose.yml


def test_compose_has_no_version_key() -> None:
    assert "version" not in _compose()


def test_app_services_run_real_subcommands() -> None:
    subcommands = _cli_subcommands()
    services = _newsflow_services()
    assert {"worker", "poller"} <= set(services)
    for name, service in services.items():
        tokens = _tokens(service["command"]) if "command" in service else _dockerfile_cmd()
        if tokens[:3] == CELERY_APP:
            assert name == "flower", f"{name}: only flower may run celery directly"
            assert tokens[3:4] == ["flower"], f"{name}: {tokens}"
            continue
        assert tokens[0] == "newsflow", f"{name}: command must start with newsflow: {tokens}"
        assert len(tokens) > 1 and tokens[1] in subcommands, (
            f"{name}: {tokens[1:2]} is not a newsflow subcommand ({sorted(subcommands)})"
        )


def test_app_services_share_settings() -> None:
    for name, service in _newsflow_services().items():
        env = service.get("environment")
        assert isinstance(env, dict), f"{name}: environment must be a mapping"
        url = str(env.get("NEWSFLOW_REDIS_URL", ""))
        assert re.fullmatch(r"redis://:\$\{REDIS_PASSWORD[^}]*\}@redis:6379/\d+", url), (
            f"{name}: NEWSFLOW_REDIS_URL must authenticate to the redis service: {url!r}"
        )
        assert "NEWSFLOW_LOG_LEVEL" in env, name
        assert service.get("depends_on", {}).get("redis", {}).get("condition") == (
            "service_healthy"
        ), name
        assert service.get("restart") == "unless-stopped", name
        assert set(service.get("networks", [])) == {"backend", "egress"}, name


REQUIRED_SECRETS = (
    "REDIS_PASSWORD",
    "GRAFANA_PASSWORD",
    "FLOWER_USER",
    "FLOWER_PASSWORD",
    "MINIO_ROOT_USER",
    "MINIO_ROOT_PASSWORD",
)
_REFERENCE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P<op>:?[-?])?(?P<arg>[^}]*)\}")


def _interpolate(value: Any, env: dict[str, str]) -> Any:
    """Compose's interpolation of the whole file (every service, whatever its profile)."""
    if isinstance(value, dict):
        return {k: _interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def one(match: re.Match[str]) -> str:
        name, op, arg = match["name"], match["op"], match["arg"]
        current = env.get(name)
        missing = current is None or (current == "" and op is not None and op.startswith(":"))
        if missing and op in (":?", "?"):
            raise LookupError(f"required variable {name} is missing a value: {arg}")
        if missing and op in (":-", "-"):
            return arg
        return current or ""

    return "$".join(_REFERENCE.sub(one, part) for part in value.split("$$"))


def _secrets() -> dict[str, str]:
    return {name: f"{name.lower()}-S3cret" for name in REQUIRED_SECRETS}


def test_secrets_are_required_never_defaulted() -> None:
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    references = [m.groupdict() for m in _REFERENCE.finditer(text)]
    for name in REQUIRED_SECRETS:
        uses = [r for r in references if r["name"] == name]
        assert uses, f"{name} is not used"
        for use in uses:
            assert use["op"] == ":?" and use["arg"].strip(), f"{name} must be ${{{name}:?message}}"
    for use in references:
        if re.search(r"PASSWORD|SECRET|TOKEN|USER$", use["name"]):
            assert use["op"] == ":?", f"{use['name']} has a fallback: {use}"
    assert "change-me" not in text


@pytest.mark.parametrize("unset", REQUIRED_SECRETS)
def test_compose_refuses_to_start_without_each_secret(unset: str) -> None:
    env = {k: v for k, v in _secrets().items() if k != unset}
    with pytest.raises(LookupError, match=f"required variable {unset} is missing"):
        _interpolate(_compose(), env)
    with pytest.raises(LookupError, match=unset):
        _interpolate(_compose(), {**env, unset: ""})


def test_redis_password_is_the_one_in_the_app_url() -> None:
    services = _interpolate(_compose(), _secrets())["services"]
    password = _secrets()["REDIS_PASSWORD"]
    assert services["redis"]["environment"]["REDIS_PASSWORD"] == password
    for name, service in services.items():
        if _is_newsflow_service(service):
            url = service["environment"]["NEWSFLOW_REDIS_URL"]
            assert url == f"redis://:{password}@redis:6379/0", name
    grafana = services["grafana"]["environment"]
    assert grafana["GF_SECURITY_ADMIN_PASSWORD"] == _secrets()["GRAFANA_PASSWORD"]


def test_redis_is_private_pinned_and_healthchecked() -> None:
    redis = _services()["redis"]
    assert "ports" not in redis, "redis must not publish a port"
    assert redis.get("networks") == ["backend"]
    image = str(redis["image"])
    name, _, tag = image.partition(":")
    assert name == "redis"
    assert tag and tag != "latest", f"redis image must be pinned: {image}"
    assert re.match(r"\d+\.\d+\.\d+", tag), f"pin a full version, not {tag!r}"
    healthcheck = redis.get("healthcheck")
    assert isinstance(healthcheck, dict) and healthcheck.get("test"), "redis needs a healthcheck"
    assert "ping" in " ".join(_tokens(healthcheck["test"]))
    assert "redisdata:/data" in redis.get("volumes", [])


def test_redis_runs_config_with_password_as_redis_user() -> None:
    redis = _services()["redis"]
    command = " ".join(_tokens(redis["command"]))
    assert "/usr/local/etc/redis/redis.conf" in command
    assert '--requirepass "$$REDIS_PASSWORD"' in command
    # The image's entrypoint drops root only when its first argument is redis-server;
    # behind `sh -c` the server must be started through it again.
    if command.startswith("sh "):
        assert "exec docker-entrypoint.sh redis-server " in command
    else:
        assert command.startswith("redis-server ")
    assert any(
        str(volume).startswith("./config/redis.conf:/usr/local/etc/redis/redis.conf")
        for volume in redis.get("volumes", [])
    )


def test_backend_network_is_internal() -> None:
    networks = _compose()["networks"]
    assert networks["backend"]["internal"] is True
    assert "egress" in networks
    assert "redisdata" in _compose()["volumes"]


def test_worker_is_scalable() -> None:
    worker = _services()["worker"]
    assert "container_name" not in worker
    assert "ports" not in worker
    assert worker.get("healthcheck", {}).get("test"), "worker needs a healthcheck"
    assert worker["deploy"]["resources"]["limits"]["memory"]


def test_single_poller() -> None:
    poller = _services()["poller"]
    assert poller["deploy"]["replicas"] == 1
    assert "container_name" not in poller
    assert "ports" not in poller
    # More pollers are allowed (one holds the lease, the others stand by), as the README says.
    assert "Exactly one poller" not in COMPOSE_FILE.read_text(encoding="utf-8")


def test_poller_healthcheck_proves_its_loop_runs() -> None:
    """Not the metrics thread: `newsflow doctor --poller`, true while this container's
    poller loop (active or standby) writes its heartbeat (tests/processes/test_ops_cli.py)."""
    import typer.main

    from workers.cli.main import app

    test = _tokens(_services()["poller"]["healthcheck"]["test"])
    assert test[0] == "CMD" and test[1:] == ["newsflow", "doctor", "--poller"], test
    doctor = typer.main.get_command(app).commands["doctor"]  # type: ignore[attr-defined]
    assert "--poller" in {opt for param in doctor.params for opt in param.opts}


def _bytes(size: str) -> int:
    number, unit = re.fullmatch(r"(\d+)([kmg]?)b?", size.lower()).groups()  # type: ignore[union-attr]
    return int(number) * {"": 1, "k": 2**10, "m": 2**20, "g": 2**30}[unit]


@pytest.mark.parametrize(
    ("env", "processes"),
    [({}, 4), ({"WORKER_CONCURRENCY": "8", "WORKER_MEMORY_LIMIT": "6g"}, 8)],
)
def test_worker_concurrency_is_set_and_fits_its_memory_limit(
    env: dict[str, str], processes: int
) -> None:
    """Without a concurrency Celery starts a process per CPU: on a large host more than the
    memory limit holds. Compose sets it, and the limit holds the main process plus every pool
    process at worker.max_memory_per_child_kb (where a process is replaced)."""
    from pipeline.settings import Settings

    worker = _interpolate(_compose(), {**_secrets(), **env})["services"]["worker"]
    variables = {k: str(v) for k, v in worker["environment"].items()}
    settings = Settings.load({"NEWSFLOW_CONFIG_DIR": str(ROOT / "config"), **variables})
    assert settings.worker.concurrency == processes
    limit = _bytes(str(worker["deploy"]["resources"]["limits"]["memory"]))
    per_process = settings.worker.max_memory_per_child_kb * 1024
    assert limit >= (processes + 1) * per_process, (limit, processes)
    assert "--concurrency" not in worker["command"] and "-c" not in worker["command"]
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    assert "${WORKER_CONCURRENCY:-" in text and "${WORKER_MEMORY_LIMIT:-" in text
    assert "max_memory_per_child_kb" in text  # the sizing rule is written next to the limit


def test_env_example_variables_reach_the_containers() -> None:
    """A variable .env.example suggests is one compose uses (else it would do nothing), and a
    NEWSFLOW_* one is a real setting (NEWSFLOW_FETCH_USER_AGENT, not NEWSFLOW_USER_AGENT)."""
    from pipeline.settings import DEFAULT_USER_AGENT, _setting_variables

    text = ENV_EXAMPLE.read_text(encoding="utf-8")
    suggested = set(re.findall(r"^(?:# )?([A-Z][A-Z0-9_]*)=", text, re.M))
    used = {m["name"] for m in _REFERENCE.finditer(COMPOSE_FILE.read_text(encoding="utf-8"))}
    assert {"NEWSFLOW_FETCH_USER_AGENT", "WORKER_CONCURRENCY"} <= suggested
    assert suggested <= used, suggested - used
    for name in suggested:
        if name.startswith("NEWSFLOW_"):
            assert name in _setting_variables(), name
    worker = _interpolate(_compose(), _secrets())["services"]["worker"]
    assert worker["environment"]["NEWSFLOW_FETCH_USER_AGENT"] == DEFAULT_USER_AGENT


def test_flower_is_optional_and_local_only() -> None:
    flower = _services()["flower"]
    assert flower.get("profiles") == ["flower"]
    ports = [str(port) for port in flower.get("ports", [])]
    assert ports and all(port.startswith("127.0.0.1:") for port in ports), ports


def test_flower_requires_basic_auth() -> None:
    flower = _interpolate(_compose(), _secrets())["services"]["flower"]
    secrets = _secrets()
    expected = f"{secrets['FLOWER_USER']}:{secrets['FLOWER_PASSWORD']}"
    # Flower reads FLOWER_<OPTION> variables: the credentials stay off its command line.
    assert flower["environment"]["FLOWER_BASIC_AUTH"] == expected
    assert not any("basic_auth" in token for token in _tokens(flower["command"]))
    # The healthcheck still answers behind the login.
    check = " ".join(_tokens(flower["healthcheck"]["test"]))
    assert "FLOWER_BASIC_AUTH" in check and "Authorization" in check


def test_metrics_listen_on_the_private_network_only() -> None:
    """Metrics bind to loopback by default; compose opens them to its own networks, where
    Prometheus scrapes them, and publishes no port."""
    from pipeline.settings import MetricsSettings, Settings

    services = _interpolate(_compose(), _secrets())["services"]
    for name in ("worker", "poller"):
        env = {k: str(v) for k, v in services[name]["environment"].items()}
        assert env.get("NEWSFLOW_METRICS_BIND") == "0.0.0.0", name
        assert "ports" not in services[name]
        assert "backend" in services[name]["networks"]
        settings = Settings.load({"NEWSFLOW_CONFIG_DIR": str(ROOT / "config"), **env})
        assert settings.metrics.bind == "0.0.0.0"
    assert "backend" in services["prometheus"]["networks"]
    assert "ports" not in services["prometheus"]
    assert MetricsSettings().bind == "127.0.0.1"
    scrape = yaml.safe_load((ROOT / "config" / "prometheus.yml").read_text(encoding="utf-8"))
    jobs = {job["job_name"]: job for job in scrape["scrape_configs"]}
    assert jobs["newsflow-worker"]["dns_sd_configs"][0]["names"] == ["worker"]
    assert jobs["newsflow-poller"]["static_configs"][0]["targets"] == ["poller:9809"]


def test_env_example_lists_every_required_variable_empty() -> None:
    """Copying .env.example as is must not start anything with a known password."""
    text = ENV_EXAMPLE.read_text(encoding="utf-8")
    compose = COMPOSE_FILE.read_text(encoding="utf-8")
    required = {m["name"] for m in _REFERENCE.finditer(compose) if m["op"] == ":?"}
    assert set(REQUIRED_SECRETS) <= required
    for name in required:
        assert re.search(rf"^{name}=$", text, re.M), f".env.example must list {name}= (empty)"
    assert "change-me" not in text
    assert "required" in text.lower()


def test_readme_docker_section_names_the_required_variables() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Running with Docker", 1)[1].split("\n## ", 1)[0]
    for name in REQUIRED_SECRETS:
        assert name in section, name


# ------------------------------------------------------------------ config/redis.conf


def test_redis_conf_production_settings() -> None:
    settings = {words[0].lower(): words[1:] for words in _redis_conf_directives()}
    assert settings["appendonly"] == ["yes"]
    assert settings["appendfsync"] == ["everysec"]
    assert settings["maxmemory-policy"] == ["noeviction"]
    assert settings["protected-mode"] == ["yes"]
    assert settings["dir"] == ["/data"]
    assert "requirepass" not in settings, "the password comes from the environment"


def test_redis_conf_has_no_trailing_comments() -> None:
    for words in _redis_conf_directives():
        assert "#" not in " ".join(words), f"trailing comment on directive: {words}"


# ------------------------------------------------------------------ Dockerfile


def test_dockerfile_base_image_is_pinned() -> None:
    froms = [args for keyword, args in _dockerfile_instructions() if keyword == "FROM"]
    assert froms, "Dockerfile has no FROM"
    for args in froms:
        image = args.split()[0]
        name, _, tag = image.partition("@")[0].partition(":")
        assert tag and tag != "latest", f"base image must be pinned by tag: {image}"
        assert name == "python", image


def test_dockerfile_runs_as_non_root() -> None:
    users = [args for keyword, args in _dockerfile_instructions() if keyword == "USER"]
    assert users, "Dockerfile has no USER line"
    assert users[-1].split(":")[0] not in {"root", "0"}
    # Numeric (hadolint DL3066): a runtime checks runAsNonRoot without /etc/passwd; and the
    # uid:gid of the user the Dockerfile creates.
    assert re.fullmatch(r"\d+:\d+", users[-1]), f"USER must be numeric uid:gid: {users[-1]}"
    uid, gid = users[-1].split(":")
    created = " ".join(args for keyword, args in _dockerfile_instructions() if keyword == "RUN")
    assert f"--uid {uid}" in created and f"--gid {gid}" in created


def test_dependencies_are_installed_before_the_code_is_copied() -> None:
    """Editing the code must not reinstall every dependency: they are installed in a layer
    built from pyproject.toml and the constraints only, and the package itself with
    --no-deps afterwards."""
    steps = [(k, a) for k, a in _dockerfile_instructions() if k in ("COPY", "RUN")]
    installs = [i for i, (k, a) in enumerate(steps) if k == "RUN" and "pip install" in a]
    assert len(installs) == 2, steps
    dependencies, package = (steps[i][1] for i in installs)
    assert "-c requirements/constraints.txt" in dependencies
    assert "-r " in dependencies and "optional-dependencies" in dependencies  # the extras
    assert "--no-deps ." in package
    copied_before = {
        source.rstrip("/")
        for keyword, args in steps[: installs[0]]
        if keyword == "COPY"
        for source in args.split()[:-1]
    }
    assert copied_before == {"pyproject.toml", "requirements/constraints.txt"}, copied_before
    copied_after = {
        source.rstrip("/")
        for keyword, args in steps[installs[0] : installs[1]]
        if keyword == "COPY"
        for source in args.split()[:-1]
    }
    assert {"pipeline", "workers", "config", "README.md"} <= copied_after


def test_dockerfile_cmd_runs_newsflow() -> None:
    cmd = _dockerfile_cmd()
    assert cmd[0] == "newsflow"
    assert cmd[1:2] == ["worker"]


def _dockerignore_patterns() -> list[tuple[bool, str]]:
    """(excluded?, pattern) in file order; ``!pattern`` lets a path back in."""
    patterns = []
    for raw in DOCKERIGNORE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        pattern = line[1:] if negated else line
        patterns.append((not negated, pattern.strip("/")))
    return patterns


def _glob_regex(pattern: str) -> re.Pattern[str]:
    """Docker's .dockerignore globs: ``*`` within one path part, ``**`` across parts."""
    out = ""
    for part in re.split(r"(\*\*/|\*\*|\*|\?)", pattern):
        out += {"**/": "(?:.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}.get(part, re.escape(part))
    return re.compile(out)


def _in_build_context(path: str) -> bool:
    """Whether ``path`` is sent to the builder: the last pattern matching the path or one
    of its parent folders decides."""
    parts = path.strip("/").split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    included = True
    for excluded, pattern in _dockerignore_patterns():
        regex = _glob_regex(pattern)
        if any(regex.fullmatch(candidate) for candidate in candidates):
            included = not excluded
    return included


def test_dockerfile_copies_existing_paths() -> None:
    for keyword, args in _dockerfile_instructions():
        if keyword != "COPY" or args.startswith("--from"):
            continue
        *sources, _destination = args.split()
        for source in sources:
            if source.startswith("--"):
                continue
            assert (ROOT / source).exists(), f"COPY source missing: {source}"
            assert _in_build_context(source), f"{source} is excluded by .dockerignore"
            if (ROOT / source).is_dir():
                for inner in (ROOT / source).rglob("*.py"):
                    if "__pycache__" not in inner.parts:
                        relative = inner.relative_to(ROOT).as_posix()
                        assert _in_build_context(relative), relative


@pytest.mark.parametrize(
    "path",
    [".git", ".venv", "tests/", "bench/", "bench/cli.py", "artifacts/", ".env", ".env.example"]
    + ["docs/", "scripts/", "Makefile", "requirements/other.txt", "pipeline/__pycache__/x.pyc"],
)
def test_dockerignore_excludes(path: str) -> None:
    assert not _in_build_context(path), f"{path} is in the build context"


def test_dockerignore_comment_matches_what_it_lets_in() -> None:
    """The allow-list lets in exactly the paths the Dockerfile copies."""
    allowed = {pattern for excluded, pattern in _dockerignore_patterns() if not excluded}
    copied = {
        source.rstrip("/")
        for keyword, args in _dockerfile_instructions()
        if keyword == "COPY" and not args.startswith("--from")
        for source in args.split()[:-1]
    }
    assert allowed == copied
    assert _dockerignore_patterns()[0] == (True, "*")
    header = DOCKERIGNORE.read_text(encoding="utf-8").split("\n*\n", 1)[0]
    assert "allow-list" in header


def test_image_ships_no_benchmarks() -> None:
    """The image copies the packages it runs, never bench/ (nor the whole context)."""
    sources = {
        source.rstrip("/")
        for keyword, args in _dockerfile_instructions()
        if keyword == "COPY" and not args.startswith("--from")
        for source in args.split()[:-1]
    }
    assert {"pipeline", "workers"} <= sources
    assert not sources & {"bench", ".", "tests"}
    assert not _in_build_context("bench") and not _in_build_context("bench/cli.py")
    assert "psutil" not in _project_dependencies()  # only the bench extra needs it


def _project_dependencies() -> str:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return " ".join(project["dependencies"])


def test_every_service_has_a_healthcheck() -> None:
    missing = [name for name, svc in _services().items() if "healthcheck" not in svc]
    assert missing == []


def test_monitoring_profile_mounts_files_that_exist() -> None:
    services = _services()
    for name in ("prometheus", "grafana"):
        assert services[name]["profiles"] == ["monitoring"]
        assert ":latest" not in services[name]["image"]
        for volume in services[name]["volumes"]:
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name} mounts missing {source}"
    assert all(
        not p.startswith("0.0.0.0") and p.startswith("127.0.0.1:")
        for name, svc in services.items()
        if name != "websub"  # public by design: hubs reach it (test_websub_...)
        for p in svc.get("ports", [])
    )


def test_websub_is_an_opt_in_profile_that_hubs_can_reach() -> None:
    """`newsflow websub` runs only with --profile websub, listens on every interface of its
    container, publishes that port (hubs are on the internet; WEBSUB_PUBLISH narrows it),
    and is off until NEWSFLOW_WEBSUB_CALLBACK_URL is set, which the poller gets too."""
    from pipeline.settings import Settings, bind_address

    raw = _services()["websub"]
    assert raw["profiles"] == ["websub"]
    assert _tokens(raw["command"]) == ["newsflow", "websub"]
    assert raw["ports"] == ["${WEBSUB_PUBLISH:-8085}:8085"]
    url = "https://news.example.org/websub"
    for env, callback in (({}, ""), ({"NEWSFLOW_WEBSUB_CALLBACK_URL": url}, url)):
        services = _interpolate(_compose(), {**_secrets(), **env})["services"]
        for name in ("websub", "poller"):
            variables = {k: str(v) for k, v in services[name]["environment"].items()}
            loaded = Settings.load({"NEWSFLOW_CONFIG_DIR": str(ROOT / "config"), **variables})
            assert loaded.websub.callback_url == callback, name
        websub = Settings.load(
            {
                "NEWSFLOW_CONFIG_DIR": str(ROOT / "config"),
                **{k: str(v) for k, v in services["websub"]["environment"].items()},
            }
        ).websub
        assert bind_address(websub.bind) == ("0.0.0.0", 8085)
        assert services["websub"]["ports"] == ["8085:8085"]
    narrowed = _interpolate(_compose(), {**_secrets(), "WEBSUB_PUBLISH": "127.0.0.1:8085"})
    assert narrowed["services"]["websub"]["ports"] == ["127.0.0.1:8085:8085"]
    check = " ".join(_tokens(raw["healthcheck"]["test"]))
    assert "http://127.0.0.1:8085/healthz" in check
