# The temporal-order service on the CPU build of torch.
#   docker build -t temporal-order .
#   docker compose up          # a one-shot trainer, then the API on 127.0.0.1:8000 (see docker-compose.yml)
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TEMPORAL_ORDER_DATABASE_URL=sqlite:////data/registry.db \
    NUMBA_CACHE_DIR=/home/app/.cache/numba

# torch first, from the PyTorch CPU index: the default wheel would pull in CUDA (gigabytes) for nothing.
RUN pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu

RUN useradd --create-home --uid 10001 app && mkdir /data && chown app /data
WORKDIR /app

# Dependencies before the source, so that editing code does not reinstall them.
COPY pyproject.toml README.md ./
RUN mkdir training service && touch training/__init__.py service/__init__.py \
    && pip install . && pip uninstall -y temporal-order

COPY alembic.ini ./
COPY alembic ./alembic
COPY training ./training
COPY service ./service
# Editable: the registry finds its Alembic migrations beside the source tree.
RUN pip install --no-deps -e .
# The fused LSTM kernel compiles on first use (numba) and caches the result where the app user can write.

USER app
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
  CMD python -c "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=2).status != 200)"
CMD ["temporal-order", "serve", "--host", "0.0.0.0", "--port", "8000"]
