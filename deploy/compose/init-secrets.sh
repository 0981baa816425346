#!/usr/bin/env sh
# Writes the secrets of deploy/compose.yaml under deploy/compose/secrets/ (git-ignored), once: a random
# PostgreSQL password and the hub's database URL carrying it, a Grafana admin password, and the hub's keys
# (`hedui keys init`, from the image, or from a local checkout's .venv when no image is built yet).
set -eu
cd "$(dirname "$0")"
umask 077
mkdir -p secrets
random() { od -An -N24 -tx1 /dev/urandom | tr -d ' \n'; }
if [ ! -s secrets/postgres_password ]; then
  password=$(random)
  printf '%s' "$password" > secrets/postgres_password
  printf 'postgresql+asyncpg://hedui:%s@postgres:5432/hedui' "$password" > secrets/hedui_database_url
fi
[ -s secrets/grafana_admin_password ] || random > secrets/grafana_admin_password
if [ ! -e secrets/hub-keys/hub.private.jwks.json ]; then
  if command -v docker >/dev/null 2>&1 && docker image inspect "${HEDUI_IMAGE:-hedui:dev}" >/dev/null 2>&1; then
    docker run --rm --user "$(id -u):$(id -g)" -v "$PWD/secrets:/out" "${HEDUI_IMAGE:-hedui:dev}" keys init --key-dir /out/hub-keys
  else
    ../../.venv/bin/hedui keys init --key-dir secrets/hub-keys
  fi
fi
# Compose mounts file secrets as they are on the host, and each image reads them as its own user (hub
# 10001, postgres 999, grafana 472): the files are world-readable, the directory around them is not (0700).
chmod 0700 secrets
chmod 0444 secrets/postgres_password secrets/hedui_database_url secrets/grafana_admin_password
# The hubs run as uid 10001 and read the keys through a read-only bind mount.
if [ "$(id -u)" = 0 ]; then chown -R 10001:10001 secrets/hub-keys; else
  echo "run as root, or: sudo chown -R 10001:10001 $(pwd)/secrets/hub-keys"; fi
echo "secrets written to $(pwd)/secrets"
