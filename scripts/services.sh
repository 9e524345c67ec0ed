#!/usr/bin/env bash
# Start PostgreSQL and Redis on this machine when they are not running (tests need both).
set -euo pipefail
PGHOST_="${PGHOST:-127.0.0.1}"

if ! pg_isready -q -h "$PGHOST_" -p 5432 2>/dev/null; then
  echo "==> starting PostgreSQL"
  if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -1)" main start
  else
    echo "PostgreSQL is not running and pg_ctlcluster is missing; start it yourself" >&2
    exit 1
  fi
  for _ in $(seq 1 30); do pg_isready -q -h "$PGHOST_" -p 5432 && break; sleep 1; done
fi

if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  echo "==> starting Redis"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
  for _ in $(seq 1 30); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 1; done
fi
# The suite connects as postgres/postgres over TCP. A fresh Debian cluster uses
# scram for TCP: give the postgres role that password (only when it cannot log in).
if ! PGPASSWORD=postgres psql -h "$PGHOST_" -U postgres -d postgres -tAc "SELECT 1" >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && id postgres >/dev/null 2>&1; then
    echo "==> setting the postgres role's password for the test suite"
    su postgres -c "psql -q -c \"ALTER ROLE postgres PASSWORD 'postgres'\""
  else
    echo "cannot log in to PostgreSQL as postgres/postgres on $PGHOST_; set TEST_DATABASE_URL" >&2
    exit 1
  fi
fi
pg_isready -h "$PGHOST_" -p 5432
redis-cli -h 127.0.0.1 -p 6379 ping
