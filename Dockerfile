# syntax=docker/dockerfile:1
#
# newsflow application image: one image for every app service in docker-compose.yml
# (worker, poller, flower, one-off `newsflow tail`); the command picks the role.
#
#   docker build -t newsflow:latest .
#   docker build -t newsflow:latest --build-arg NEWSFLOW_EXTRAS="[flower]" .   # with Flower
#
# The base is pinned by tag (Python minor + Debian release). For byte-for-byte
# reproducible builds pin the digest as well: FROM python:3.11-slim-bookworm@sha256:...
FROM python:3.11-slim-bookworm

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    NEWSFLOW_CONFIG_DIR=/app/config

# Unprivileged runtime user with a fixed uid/gid (stable ownership on volumes).
RUN groupadd --system --gid 10001 newsflow \
    && useradd --system --uid 10001 --gid newsflow --create-home --home-dir /home/newsflow \
        --shell /usr/sbin/nologin newsflow

WORKDIR /app

# Optional extras, e.g. "[flower]" or "[embedded]"; empty installs the plain package.
ARG NEWSFLOW_EXTRAS=""

# Dependencies in their own layer, from pyproject.toml and the pinned constraints only: an
# edit of the code reuses this layer instead of installing every dependency again.
COPY pyproject.toml ./
COPY requirements/constraints.txt requirements/constraints.txt
RUN python -c "import sys, tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; \
extras = [e.strip() for e in sys.argv[1].strip('[]').split(',') if e.strip()]; \
print('\n'.join(p['dependencies'] + [d for e in extras for d in p['optional-dependencies'][e]]))" \
        "${NEWSFLOW_EXTRAS}" > /tmp/requirements.txt \
    && pip install -c requirements/constraints.txt -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# The code (pyproject.toml names README.md as the readme, so it must be present), installed
# without resolving dependencies again: they are all in the layer above.
COPY README.md ./
COPY pipeline/ pipeline/
COPY workers/ workers/
COPY config/ config/
RUN pip install --no-deps . \
    && pip check \
    && rm -rf build ./*.egg-info

# The code and config under /app stay root-owned and read-only for the runtime user.
# Numeric uid:gid (the newsflow user above): a runtime can tell it is not root without
# reading /etc/passwd (runAsNonRoot, hadolint DL3066).
USER 10001:10001

# `newsflow worker` passes extra arguments through to `celery worker`.
CMD ["newsflow", "worker"]
