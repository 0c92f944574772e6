#!/usr/bin/env bash
# Install (from the OS packages) and start PostgreSQL and Redis on 127.0.0.1, idempotently, and
# install headless Chromium for the check that /docs renders with the network off.
# Used by `make services` and by .ci/run for the backend integration tests. No Docker needed.
#   MLSYS_SERVICES_DIR  where data and logs live (default /var/tmp/mlsys-services)
#   MLSYS_PG_PORT / MLSYS_REDIS_PORT  (default 55432 / 56379, away from system defaults)
set -euo pipefail
DIR="${MLSYS_SERVICES_DIR:-/var/tmp/mlsys-services}"
PG_PORT="${MLSYS_PG_PORT:-55432}"
REDIS_PORT="${MLSYS_REDIS_PORT:-56379}"
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"

missing=()
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || missing+=(postgresql)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
if [ ${#missing[@]} -gt 0 ]; then
  echo "services: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # The packages' own init scripts may have started default instances: we use our own.
  $SUDO service redis-server stop >/dev/null 2>&1 || true
  $SUDO service postgresql stop >/dev/null 2>&1 || true
fi
PGBIN="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"

mkdir -p "$DIR"
as_postgres() { if [ "$(id -un)" = postgres ]; then "$@"; else $SUDO runuser -u postgres -- "$@"; fi; }
$SUDO chown postgres "$DIR" 2>/dev/null || true
if [ ! -f "$DIR/pg/PG_VERSION" ]; then
  as_postgres "$PGBIN/initdb" -D "$DIR/pg" -A trust -U postgres >/dev/null
fi
if ! as_postgres "$PGBIN/pg_ctl" -D "$DIR/pg" status >/dev/null 2>&1; then
  as_postgres "$PGBIN/pg_ctl" -D "$DIR/pg" -l "$DIR/postgres.log" -w \
    -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $DIR -c fsync=off" start >/dev/null
fi
for db in mlsys_source mlsys_dagster mlsys_mlflow mlsys_test; do
  as_postgres "$PGBIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -tAc \
    "SELECT 1 FROM pg_database WHERE datname='$db'" | grep -q 1 ||
    as_postgres "$PGBIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres "$db"
done

if ! redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping >/dev/null 2>&1; then
  redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --daemonize yes --save '' --appendonly no \
    --dir "$DIR" --logfile "$DIR/redis.log" --pidfile "$DIR/redis.pid"
  for _ in $(seq 50); do redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
fi

echo "services: PostgreSQL postgresql://postgres@127.0.0.1:$PG_PORT  Redis redis://127.0.0.1:$REDIS_PORT/0"
