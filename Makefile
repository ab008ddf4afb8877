# One environment, made from this project's own files. `make test` is what CI runs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup test lint typecheck pytest postgres-server run migrate bench clean wheelhouse base-image image image-check

$(STAMP): pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch first and pinned: the CPU build on disk (or the CPU wheel index) instead of a CUDA build.
	$(BIN)/pip install --quiet torch==2.13.0 || \
	  $(BIN)/pip install --quiet torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
	# Everything: the client (base), the server and trainer, the PostgreSQL driver, Ray, the test and lint tools.
	$(BIN)/pip install --quiet -e '.[server,postgres,ray,dev]'
	touch $(STAMP)

setup: $(STAMP)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check training service tests bench

typecheck: setup
	$(BIN)/mypy

# The registry, queue and service tests run against a real PostgreSQL server (tests/conftest.py starts a throwaway
# one): Debian's `postgresql` is installed when no `initdb` is found and this runs as root. Under CI=true a
# missing server fails those tests rather than skipping them.
postgres-server:
	@command -v initdb >/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || \
	  { [ "$$(id -u)" = 0 ] && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; } || \
	  echo "no PostgreSQL server: apt-get install postgresql (the PostgreSQL tests skip, or fail under CI=true)"

# The suite runs on two pytest-xdist worker processes, each taking whole test files (a file's module fixtures, its
# servers, start once); each worker has its own PostgreSQL server, Ray cluster, session-wide live server and
# temporary folders, and every port is chosen free. Much of the suite waits on processes it starts (servers,
# trainers, installs), so two workers pay on two cores. `make test PYTEST_WORKERS=0` runs it in one process.
PYTEST_WORKERS ?= 2

pytest: setup postgres-server
	$(BIN)/pytest -q -n $(PYTEST_WORKERS) --dist loadfile

test: lint typecheck pytest

migrate: setup
	$(BIN)/temporal-order db upgrade

run: setup migrate
	$(BIN)/temporal-order bootstrap --workers 2
	$(BIN)/temporal-order serve --host 127.0.0.1 --port 8000

bench: setup
	# wrk drives the HTTP load; serve_bench.py falls back to a slower Python load generator without it.
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk) || true
	$(BIN)/python bench/train_bench.py
	$(BIN)/python bench/serve_bench.py

# ---- the container image (not part of `make test`: it takes minutes and needs a running Docker daemon) -------
# BASE_IMAGE: the Debian base made by deploy/base_image.sh (debootstrap, root) where no registry is reachable;
# `make image BASE_IMAGE=python:3.11-slim` where one is. The image installs from build/wheelhouse only.
BASE_IMAGE ?= temporal-order-base:bookworm
WHEELHOUSE := build/wheelhouse

build/.wheelhouse-complete: pyproject.toml setup.py deploy/wheelhouse.sh
	PYTHON=$(PYTHON) deploy/wheelhouse.sh $(WHEELHOUSE)
	touch $@

wheelhouse: build/.wheelhouse-complete

base-image:
	docker image inspect $(BASE_IMAGE) >/dev/null 2>&1 || deploy/base_image.sh $(BASE_IMAGE)

image: wheelhouse
	docker build --network host --build-arg BASE_IMAGE=$(BASE_IMAGE) -t temporal-order .

# Builds both images, starts the default compose setup and the `scale` profile, uses them, removes every
# container and volume; writes bench/results/image.json (see deploy/image_check.py).
image-check: wheelhouse
	$(PYTHON) deploy/image_check.py --base-image $(BASE_IMAGE)

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache .pytest_cache
