#!/usr/bin/env bash
# Generate random credentials into the gitignored k8s/secrets/*.env files, one file per Secret.
# A file that already exists is kept as it is (the cluster's PostgreSQL, MinIO and MLflow were
# initialised with its values), so re-running is safe; delete a file to regenerate it.
# Every value is hex, hence URL-safe (MLflow and Optuna put the PostgreSQL password into URIs).
# Usage: scripts/gen-secrets.sh [DIR]     (default k8s/secrets; make kind-up calls it)
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DIR="${1:-$ROOT/k8s/secrets}"
mkdir -p "$DIR"
umask 077

# rand BYTES: 2*BYTES random hex characters
rand() {
  if command -v openssl >/dev/null 2>&1; then
    openssl rand -hex "$1"
  else
    python3 -c 'import secrets, sys; print(secrets.token_hex(int(sys.argv[1])))' "$1"
  fi
}

# value FILE KEY: the value of KEY in an env file (empty when absent)
value() { sed -n "s/^$2=//p" "$1" | head -n 1; }

# write NAME: create DIR/NAME.env from stdin unless it exists
write() {
  local file="$DIR/$1.env"
  if [[ -s "$file" ]]; then
    log "keeping $file"
    cat >/dev/null
  else
    cat >"$file"
    log "generated $file"
  fi
}

PG_USER=lstmtune
write lstmtune-postgres <<EOF
POSTGRES_USER=$PG_USER
POSTGRES_PASSWORD=$(rand 24)
POSTGRES_DB=mlflow
EOF
# the Optuna storage URL must carry the password PostgreSQL was initialised with
PG_PASSWORD="$(value "$DIR/lstmtune-postgres.env" POSTGRES_PASSWORD)"
PG_USER="$(value "$DIR/lstmtune-postgres.env" POSTGRES_USER)"
[[ -n "$PG_PASSWORD" && -n "$PG_USER" ]] || die "$DIR/lstmtune-postgres.env lacks POSTGRES_USER/POSTGRES_PASSWORD"

write lstmtune-optuna <<EOF
LSTMTUNE_STORAGE_URL=postgresql://$PG_USER:$PG_PASSWORD@postgres.lstmtune.svc.cluster.local:5432/optuna
EOF

write lstmtune-s3 <<EOF
AWS_ACCESS_KEY_ID=lstmtune-$(rand 4)
AWS_SECRET_ACCESS_KEY=$(rand 24)
AWS_ENDPOINT_URL=http://minio.lstmtune.svc.cluster.local:9000
EOF

# MLflow basic-auth: the admin (server side only) and the user pipeline steps and trials log as
write lstmtune-mlflow-auth <<EOF
MLFLOW_AUTH_ADMIN_USERNAME=admin
MLFLOW_AUTH_ADMIN_PASSWORD=$(rand 24)
MLFLOW_FLASK_SERVER_SECRET_KEY=$(rand 32)
EOF

write lstmtune-mlflow <<EOF
MLFLOW_TRACKING_USERNAME=lstmtune-pipeline
MLFLOW_TRACKING_PASSWORD=$(rand 24)
EOF
