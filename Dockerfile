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

# Metadata first (pyproject.toml names README.md as the readme, so it must be present).
COPY pyproject.toml README.md ./
COPY requirements/ requirements/
COPY pipeline/ pipeline/
COPY workers/ workers/
COPY config/ config/

# Optional extras, e.g. "[flower]" or "[embedded]"; empty installs the plain package.
ARG NEWSFLOW_EXTRAS=""
RUN pip install -c requirements/constraints.txt ".${NEWSFLOW_EXTRAS}" \
    && rm -rf build ./*.egg-info

# The code and config under /app stay root-owned and read-only for the runtime user.
USER newsflow

# `newsflow worker` passes extra arguments through to `celery worker`.
CMD ["newsflow", "worker"]
