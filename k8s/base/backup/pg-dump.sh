#!/bin/sh
# Dump PostgreSQL databases for the postgres-backup CronJob (mounted from a ConfigMap; the same
# file runs in tests/test_backup.py against a local server).
#   BACKUP_DIR        where to write: $BACKUP_DIR/$BACKUP_NAME/<database>.dump
#   BACKUP_NAME       default: the UTC time, e.g. 20250131T021700Z (names sort by age)
#   BACKUP_DATABASES  space-separated, default "mlflow mlflow_auth optuna"
#   connection        libpq environment: PGHOST, PGPORT, PGUSER, PGPASSWORD
# Each dump is pg_dump --format=custom, written under a temporary name and renamed once
# pg_restore --list has read it back, so a finished file is a complete, readable archive.
set -eu

: "${BACKUP_DIR:?set BACKUP_DIR}"
name="${BACKUP_NAME:-$(date -u +%Y%m%dT%H%M%SZ)}"
out="$BACKUP_DIR/$name"
mkdir -p "$out"
for db in ${BACKUP_DATABASES:-mlflow mlflow_auth optuna}; do
  pg_dump --format=custom --dbname="$db" --file="$out/$db.dump.partial"
  pg_restore --list "$out/$db.dump.partial" >/dev/null
  mv "$out/$db.dump.partial" "$out/$db.dump"
  echo "dumped $db to $out/$db.dump ($(wc -c <"$out/$db.dump") bytes)"
done
