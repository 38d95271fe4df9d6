#!/usr/bin/env bash
# Create the local kind cluster and install everything the lstmtune pipeline needs:
#   Kubeflow Pipelines standalone + Katib (pinned in k8s/versions.env), the project image,
#   and k8s/overlays/kind (PostgreSQL, MinIO + buckets, MLflow with basic-auth, backups, RBAC).
# Credentials: random, generated once into the gitignored k8s/secrets/*.env (scripts/gen-secrets.sh)
#   and created as Secrets from those files; nothing secret is in git.
# Idempotent: re-running reuses the cluster and the generated credentials and re-applies everything
#   (after editing k8s/secrets/*.env it updates the Secrets: see "Rotating credentials" in
#   k8s/README.md).
# Usage: scripts/kind-up.sh        (or: make kind-up)
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
load_versions

require docker kind kubectl git
docker info >/dev/null 2>&1 || die "the Docker engine is not reachable ('docker info' failed): start Docker first"

WAIT_TIMEOUT="${WAIT_TIMEOUT:-900s}"
KFP_MANIFESTS="github.com/kubeflow/pipelines/manifests/kustomize"
KATIB_MANIFESTS="github.com/kubeflow/katib.git/manifests/v1beta1/installs/katib-standalone"

# 1. cluster
if kind get clusters 2>/dev/null | grep -qx "$KIND_CLUSTER_NAME"; then
  log "kind cluster '$KIND_CLUSTER_NAME' exists; reusing it"
else
  log "creating kind cluster '$KIND_CLUSTER_NAME' ($KIND_NODE_IMAGE)"
  kind create cluster --name "$KIND_CLUSTER_NAME" --image "$KIND_NODE_IMAGE" \
    --config "$ROOT/k8s/kind/cluster.yaml" --wait 180s
fi

# 2. the project image (every pipeline step, Katib trial and the MLflow server run it)
log "building $LSTMTUNE_IMAGE from images/Dockerfile"
docker build -f "$ROOT/images/Dockerfile" -t "$LSTMTUNE_IMAGE" "$ROOT"
log "loading $LSTMTUNE_IMAGE into the kind node"
kind load docker-image "$LSTMTUNE_IMAGE" --name "$KIND_CLUSTER_NAME"

# 3. Kubeflow Pipelines standalone
log "installing Kubeflow Pipelines $PIPELINE_VERSION"
kc apply -k "$KFP_MANIFESTS/cluster-scoped-resources?ref=$PIPELINE_VERSION"
kc wait --for condition=established --timeout=120s crd/applications.app.k8s.io
kc apply -k "$KFP_MANIFESTS/env/platform-agnostic?ref=$PIPELINE_VERSION"

# 4. Katib standalone (server-side apply: its CRDs exceed the client-side annotation limit)
log "installing Katib $KATIB_VERSION"
kc apply --server-side --force-conflicts -k "$KATIB_MANIFESTS?ref=$KATIB_VERSION"

log "waiting for KFP and Katib in namespace kubeflow (up to $WAIT_TIMEOUT; first start pulls many images)"
kc -n kubeflow wait --for=condition=Available deployment --all --timeout="$WAIT_TIMEOUT"
kc wait --for condition=established --timeout=120s \
  crd/experiments.kubeflow.org crd/trials.kubeflow.org crd/suggestions.kubeflow.org

# 5. credentials: k8s/secrets/*.env -> Secrets (in lstmtune; pipeline pods run in kubeflow).
SECRETS_DIR="$ROOT/k8s/secrets"
SECRET_NAMES=(lstmtune-postgres lstmtune-s3 lstmtune-optuna lstmtune-mlflow-auth lstmtune-mlflow)
missing=()
for name in "${SECRET_NAMES[@]}"; do
  [[ -s "$SECRETS_DIR/$name.env" ]] || missing+=("$name")
done
if [[ ${#missing[@]} -gt 0 ]] && kc -n lstmtune get secret lstmtune-postgres >/dev/null 2>&1; then
  # PostgreSQL and MinIO keep the credentials they were initialised with: new random ones
  # would lock everything out of the existing volumes.
  die "k8s/secrets/{${missing[*]}}.env missing but the cluster already has credentials; restore the files, or 'make kind-down' and start over"
fi
"$ROOT/scripts/gen-secrets.sh" "$SECRETS_DIR"
kc apply -f "$ROOT/k8s/base/namespace.yaml"
# apply_secret NAMESPACE NAME: create or update the Secret from k8s/secrets/NAME.env
apply_secret() {
  kc -n "$1" create secret generic "$2" --from-env-file="$SECRETS_DIR/$2.env" \
    --dry-run=client -o yaml | kc apply -f - >/dev/null
  log "secret $1/$2 applied"
}
for name in "${SECRET_NAMES[@]}"; do apply_secret lstmtune "$name"; done
for name in lstmtune-s3 lstmtune-optuna lstmtune-mlflow; do apply_secret kubeflow "$name"; done

# 6. lstmtune infrastructure. mlflow-users is re-run every time, so that it sets the MLflow
# user's password from the Secret (a rotation takes effect here).
log "applying k8s/overlays/kind"
kc -n lstmtune delete job mlflow-users --ignore-not-found >/dev/null
kc apply -k "$ROOT/k8s/overlays/kind"
kc -n lstmtune rollout status statefulset/postgres --timeout="$WAIT_TIMEOUT"
kc -n lstmtune rollout status deployment/minio --timeout="$WAIT_TIMEOUT"
kc -n lstmtune rollout status deployment/mlflow --timeout="$WAIT_TIMEOUT"
kc -n lstmtune wait --for=condition=complete job/minio-buckets --timeout="$WAIT_TIMEOUT"
kc -n lstmtune wait --for=condition=complete job/mlflow-users --timeout="$WAIT_TIMEOUT"

log "ready. KFP UI: kubectl --context kind-$KIND_CLUSTER_NAME -n kubeflow port-forward svc/ml-pipeline-ui 8080:80"
log "       MLflow: kubectl --context kind-$KIND_CLUSTER_NAME -n lstmtune port-forward svc/mlflow 5000:5000"
log "       MLflow login: k8s/secrets/lstmtune-mlflow.env (pipeline user), lstmtune-mlflow-auth.env (admin)"
log "next: make kind-e2e"
