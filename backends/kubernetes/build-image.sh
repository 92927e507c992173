#!/usr/bin/env bash
# Build the SynergAI image (worker + synergai-scheduler + traces) with buildah: no daemon, chroot isolation, vfs
# storage, so it runs in an unprivileged build container too. From the repository root:
#
#   backends/kubernetes/build-image.sh [-t TAG] [-b BASE_IMAGE] [-m MODELS] [-i EXTRA_INDEX_URL]
#
#   -t  image tag (default synergai:dev)
#   -b  base image for both stages (default python:3.11-slim; any image with python3 >= 3.10 and pip, e.g. one
#       made locally with mmdebstrap and `buildah import`)
#   -m  models exported into the image (default all four; e.g. mobilenet-v2,resnet50)
#   -i  an extra pip index (e.g. https://download.pytorch.org/whl/cpu for CPU-only torch), none by default
#
# Exit 3 with one line when buildah is not installed (nothing is built).
set -euo pipefail
TAG=synergai:dev BASE=python:3.11-slim MODELS=mobilenet-v2,resnet50,retinanet,bert-99 INDEX=""
while getopts "t:b:m:i:h" o; do
  case "$o" in
    t) TAG=$OPTARG ;; b) BASE=$OPTARG ;; m) MODELS=$OPTARG ;; i) INDEX=$OPTARG ;;
    *) sed -n '2,14p' "$0"; exit 2 ;;
  esac
done
if ! command -v buildah >/dev/null 2>&1; then
  echo "build-image.sh: buildah not found: nothing built (Debian/Ubuntu: apt-get install buildah; or use docker buildx, see README)" >&2
  exit 3
fi
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
exec buildah --storage-driver vfs bud --isolation chroot \
  --build-arg "PYTHON_IMAGE=$BASE" --build-arg "MODELS=$MODELS" --build-arg "PIP_EXTRA_INDEX_URL=$INDEX" \
  -f "$ROOT/backends/kubernetes/Dockerfile" -t "$TAG" "$ROOT"
