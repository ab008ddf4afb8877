# The temporal-order service on the CPU build of torch, installed from the project's wheel.
#   docker build -t temporal-order .
#   docker compose up          # a one-shot trainer, then the API on 127.0.0.1:8000 (see docker-compose.yml)
# BASE_IMAGE: any Debian-like image with Python 3.11 and venv (e.g. one made with debootstrap where no registry
# is reachable).
ARG BASE_IMAGE=python:3.11-slim

# ---- the wheel, built from the source tree (it carries the Alembic migrations) ----------------------------
FROM ${BASE_IMAGE} AS wheel
WORKDIR /src
COPY pyproject.toml setup.py README.md alembic.ini ./
COPY alembic ./alembic
COPY training ./training
COPY service ./service
RUN python3 -m pip wheel --no-deps --wheel-dir /wheels .

# ---- the runtime ----------------------------------------------------------------------------------------
FROM ${BASE_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TEMPORAL_ORDER_DATABASE_URL=sqlite:////data/registry.db \
    NUMBA_CACHE_DIR=/home/app/.cache/numba

# torch first, from the PyTorch CPU index: the default wheel would pull in CUDA (gigabytes) for nothing.
RUN python3 -m pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu

RUN useradd --create-home --uid 10001 app && mkdir /data && chown app /data

COPY --from=wheel /wheels /wheels
RUN python3 -m pip install "$(ls /wheels/temporal_order-*.whl)[server]" && rm -rf /wheels

USER app
# Compile every numba kernel now, into the app user's cache inside the image: a container's first start then
# loads compiled code instead of compiling for tens of seconds. numba's cache is per CPU kind; on another kind
# of CPU than the build machine's, the first use compiles once more (into the container's own cache).
RUN python3 -m training.warm_kernels

VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD python3 -c "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=2).status != 200)"
CMD ["temporal-order", "serve", "--host", "0.0.0.0", "--port", "8000"]
