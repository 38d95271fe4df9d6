#!/usr/bin/env bash
# Restore PostgreSQL databases from one backup of the postgres-backup CronJob (k8s/base/backup.yaml):
# every <database>.dump (pg_dump --format=custom) of the backup, or only the databases named.
# Each database is DROPPED and recreated, then the dump is restored into it -- stop its clients
# first (kubectl -n lstmtune scale deployment/mlflow --replicas=0; no pipeline run in flight).
#
# Usage: scripts/restore-db.sh [--kube] --yes SOURCE [DATABASE...]
#   SOURCE   a local directory holding <database>.dump files, or the mc path of one backup,
#            e.g. backup/lstmtune-backups/postgres/20250131T021700Z (copied with `mc cp` first;
#            list them with `mc ls backup/lstmtune-backups/postgres/`)
#   --kube   run psql/pg_restore inside the cluster's PostgreSQL pod through `kubectl exec`,
#            streaming each dump to it (KUBE_CONTEXT, default the current context; NAMESPACE,
#            default lstmtune; POD, default postgres-0). Without it they connect with the libpq
#            environment (PGHOST, PGPORT, PGUSER, PGPASSWORD), e.g. through a port-forward.
#   --yes    required: confirms that the databases are replaced
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

KUBE=0
YES=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --kube) KUBE=1; shift ;;
    --yes) YES=1; shift ;;
    -h | --help) sed -n '2,16p' "$0"; exit 0 ;;
    --) shift; break ;;
    -*) die "unknown option $1 (see --help)" ;;
    *) break ;;
  esac
done
[[ $# -ge 1 ]] || die "usage: scripts/restore-db.sh [--kube] --yes SOURCE [DATABASE...]"
SOURCE="$1"
shift

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

if [[ -d "$SOURCE" ]]; then
  DIR="$SOURCE"
else
  require mc
  log "copying $SOURCE from object storage"
  mc cp --recursive "${SOURCE%/}/" "$WORK/"
  # wherever mc put them (with or without the backup's folder name)
  first="$(find "$WORK" -name '*.dump' -print -quit)"
  [[ -n "$first" ]] || die "no .dump files under $SOURCE"
  DIR="$(dirname "$first")"
fi

if [[ $# -gt 0 ]]; then
  DATABASES=("$@")
else
  DATABASES=()
  for dump in "$DIR"/*.dump; do
    [[ -f "$dump" ]] || continue
    name="${dump##*/}"
    DATABASES+=("${name%.dump}")
  done
fi
[[ ${#DATABASES[@]} -gt 0 ]] || die "no <database>.dump files in $SOURCE"
for db in "${DATABASES[@]}"; do
  [[ "$db" =~ ^[A-Za-z0-9_]+$ ]] || die "unexpected database name '$db'"
  [[ -s "$DIR/$db.dump" ]] || die "$SOURCE has no $db.dump"
done
[[ $YES -eq 1 ]] || die "this drops and recreates ${DATABASES[*]}; re-run with --yes to confirm"

if [[ $KUBE -eq 1 ]]; then
  require kubectl
  KUBECTL=(kubectl)
  [[ -n "${KUBE_CONTEXT:-}" ]] && KUBECTL+=(--context "$KUBE_CONTEXT")
  KUBECTL+=(-n "${NAMESPACE:-lstmtune}" exec -i "${POD:-postgres-0}" -c postgres --)
  # inside the pod: the local socket and the server's own POSTGRES_USER (expanded there)
  # shellcheck disable=SC2016
  sql() { "${KUBECTL[@]}" sh -c 'psql -X -q -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d postgres -c "$1"' sh "$1"; }
  restore() {
    # shellcheck disable=SC2016
    "${KUBECTL[@]}" sh -c 'pg_restore --no-owner --exit-on-error -U "$POSTGRES_USER" -d "$1"' sh "$1" <"$2"
  }
else
  require psql pg_restore
  sql() { psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "$1"; }
  restore() { pg_restore --no-owner --exit-on-error -d "$1" "$2"; }
fi

for db in "${DATABASES[@]}"; do
  log "restoring database $db from $db.dump"
  sql "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)"
  sql "CREATE DATABASE \"$db\""
  restore "$db" "$DIR/$db.dump"
done
log "restored ${DATABASES[*]}; start the clients again (kubectl -n lstmtune scale deployment/mlflow --replicas=1)"
