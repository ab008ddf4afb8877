#!/bin/sh
# A Debian base image with Python 3.11 and its venv module, for machines where no image registry is reachable
# (python:3.11-slim cannot be pulled): debootstrap a minimal bookworm and `docker import` it. Needs root,
# debootstrap and a Debian mirror (or a local one: MIRROR=...). The Dockerfile takes it as BASE_IMAGE.
#   deploy/base_image.sh [TAG]          # default temporal-order-base:bookworm
set -eu
TAG=${1:-temporal-order-base:bookworm}
SUITE=${SUITE:-bookworm}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
ROOTFS=$(mktemp -d "${TMPDIR:-/var/tmp}/temporal-order-rootfs.XXXXXX")
trap 'rm -rf "$ROOTFS"' EXIT

debootstrap --variant=minbase --include=python3,python3-venv "$SUITE" "$ROOTFS" "$MIRROR"
# apt's package lists and debootstrap's downloaded .debs are not needed in the image.
rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/lib/apt/lists/*
tar -C "$ROOTFS" --numeric-owner -c . | docker import \
  --change 'ENV LANG=C.UTF-8' --change 'CMD ["/bin/bash"]' - "$TAG"
docker image inspect --format '{{.RepoTags}} {{.Size}} bytes' "$TAG"
