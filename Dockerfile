# The temporal-order service on the CPU build of torch, installed from a wheelhouse: no package index is needed
# while the image builds, so the same steps work where no registry or index is reachable.
#   make wheelhouse                                     # build/wheelhouse: every dependency as a wheel (deploy/wheelhouse.sh)
#   docker build --network host -t temporal-order .
#   docker build --network host -t temporal-order --build-arg BASE_IMAGE=temporal-order-base:bookworm .
#   docker compose up          # a one-shot trainer, then the API on 127.0.0.1:8000 (see docker-compose.yml)
# BASE_IMAGE: any Debian-like image with Python 3.11 and its venv module: python:3.11-slim, or, where no
# registry is reachable, Debian bookworm made with debootstrap and `docker import` (deploy/base_image.sh).
# The wheelhouse must be built for the base image's Python (3.11, manylinux x86_64).
ARG BASE_IMAGE=python:3.11-slim

# ---- the virtual environment: the project's wheel, built from this source tree (it carries the Alembic
# migrations), and its dependencies, all from the wheelhouse ------------------------------------------------
FROM ${BASE_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_INDEX=1 \
    PIP_FIND_LINKS=/wheelhouse
# A venv, not the system Python: Debian's python3 has no pip (python3-venv brings it into every venv), and the
# runtime stage copies this one folder.
RUN python3 -m venv /opt/venv
COPY build/wheelhouse /wheelhouse
# The dependencies first, in a layer of their own (deploy/wheelhouse.sh writes the pinned list): a change to the
# sources then rebuilds only the project's wheel.
RUN /opt/venv/bin/pip install -r /wheelhouse/requirements.txt
WORKDIR /src
COPY pyproject.toml setup.py README.md alembic.ini ./
COPY alembic ./alembic
COPY training ./training
COPY service ./service
# setuptools and wheel come from the wheelhouse too (the build is isolated, and there is no index to fetch them).
RUN /opt/venv/bin/pip wheel --no-deps --wheel-dir /wheels . \
 && /opt/venv/bin/pip install "$(ls /wheels/temporal_order-*.whl)[server,postgres]"

# ---- the runtime: the venv alone (the wheelhouse and the sources stay in the build stage) ---------------------
FROM ${BASE_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH \
    TEMPORAL_ORDER_DATABASE_URL=sqlite:////data/registry.db \
    NUMBA_CACHE_DIR=/home/app/.cache/numba

RUN useradd --create-home --uid 10001 app && mkdir /data && chown app /data
COPY --from=build /opt/venv /opt/venv

USER app
# Compile every numba kernel now, into the app user's cache inside the image: a container's first start then
# loads compiled code instead of compiling for tens of seconds. numba's cache is per CPU kind; on another kind
# of CPU than the build machine's, the first use compiles once more (into the container's own cache).
RUN python3 -m training.warm_kernels

VOLUME ["/data"]
EXPOSE 8000
# The API's readiness. A worker container (`temporal-order worker`) serves no HTTP: start it with `docker run
# --no-healthcheck` (docker-compose.yml's workers disable it), or it shows as unhealthy.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD python3 -c "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=2).status != 200)"
CMD ["temporal-order", "serve", "--host", "0.0.0.0", "--port", "8000"]
