#!/usr/bin/env bash
# End-to-end check on the kind cluster from scripts/kind-up.sh: submit the lstmtune pipeline to
# KFP with the Katib backend and a tiny budget, wait for it, then assert that MLflow refuses
# anonymous requests and that its registry holds the model with alias @champion (read with the
# pipeline user's generated credentials from k8s/secrets/lstmtune-mlflow.env).
# Usage: scripts/kind-e2e.sh       (or: make kind-e2e, which uses the project venv)
# Env:   E2E_CONFIG (default k8s/kind/e2e-config.yaml), KFP_PORT (18888), MLFLOW_PORT (15000),
#        LSTMTUNE (lstmtune CLI), PYTHON (interpreter with lstmtune + mlflow installed)
set -Eeuo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
load_versions

E2E_CONFIG="${E2E_CONFIG:-$ROOT/k8s/kind/e2e-config.yaml}"
KFP_PORT="${KFP_PORT:-18888}"
MLFLOW_PORT="${MLFLOW_PORT:-15000}"
if [[ -z "${PYTHON:-}" ]]; then
  if [[ -x "$ROOT/.venv/bin/python" ]]; then PYTHON="$ROOT/.venv/bin/python"; else PYTHON=python3; fi
fi
if [[ -z "${LSTMTUNE:-}" ]]; then
  if [[ -x "$ROOT/.venv/bin/lstmtune" ]]; then LSTMTUNE="$ROOT/.venv/bin/lstmtune"; else LSTMTUNE=lstmtune; fi
fi

require docker kind kubectl curl "$PYTHON" "$LSTMTUNE"
[[ -f "$E2E_CONFIG" ]] || die "config not found: $E2E_CONFIG"
kind get clusters 2>/dev/null | grep -qx "$KIND_CLUSTER_NAME" \
  || die "kind cluster '$KIND_CLUSTER_NAME' not found: run 'make kind-up' first"

PF_PIDS=()
cleanup() {
  local pid
  for pid in "${PF_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
}
diagnose() {
  log "FAILED; cluster state follows"
  kc get pods -n kubeflow -o wide || true
  kc get pods -n lstmtune -o wide || true
  kc get experiments.kubeflow.org,trials.kubeflow.org -n lstmtune || true
  kc get events -n lstmtune --sort-by=.lastTimestamp | tail -n 30 || true
}
trap cleanup EXIT
trap diagnose ERR

# port_forward NAMESPACE SERVICE LOCAL_PORT REMOTE_PORT HEALTH_PATH
port_forward() {
  local ns="$1" svc="$2" local_port="$3" remote_port="$4" health="$5" i
  kc -n "$ns" port-forward "svc/$svc" "$local_port:$remote_port" >/dev/null 2>&1 &
  PF_PIDS+=("$!")
  for i in $(seq 1 60); do
    if curl -fsS -o /dev/null "http://127.0.0.1:$local_port$health"; then return 0; fi
    sleep 2
  done
  die "svc/$svc in $ns did not answer on 127.0.0.1:$local_port$health after ${i} tries"
}

log "port-forwarding KFP API (ml-pipeline:8888 -> $KFP_PORT) and MLflow (mlflow:5000 -> $MLFLOW_PORT)"
port_forward kubeflow ml-pipeline "$KFP_PORT" 8888 /apis/v2beta1/healthz
port_forward lstmtune mlflow "$MLFLOW_PORT" 5000 /health

MODEL_NAME="$("$PYTHON" -c 'import sys; from lstmtune.config import load_config; print(load_config(sys.argv[1]).resolved().mlflow.model_name)' "$E2E_CONFIG")"
log "submitting the pipeline ($E2E_CONFIG, model $MODEL_NAME) and waiting for it"
"$LSTMTUNE" submit --host "http://127.0.0.1:$KFP_PORT" --namespace lstmtune \
  --experiment kind-e2e --config "$E2E_CONFIG" --wait

log "checking that MLflow refuses anonymous requests"
status="$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$MLFLOW_PORT/api/2.0/mlflow/experiments/search?max_results=1")"
[[ "$status" == 401 ]] || die "anonymous request to MLflow answered HTTP $status, expected 401"

MLFLOW_ENV_FILE="$ROOT/k8s/secrets/lstmtune-mlflow.env"
[[ -s "$MLFLOW_ENV_FILE" ]] || die "$MLFLOW_ENV_FILE not found: it is written by 'make kind-up'"
MLFLOW_TRACKING_USERNAME="$(sed -n 's/^MLFLOW_TRACKING_USERNAME=//p' "$MLFLOW_ENV_FILE")"
MLFLOW_TRACKING_PASSWORD="$(sed -n 's/^MLFLOW_TRACKING_PASSWORD=//p' "$MLFLOW_ENV_FILE")"
export MLFLOW_TRACKING_USERNAME MLFLOW_TRACKING_PASSWORD

log "checking the MLflow registry for $MODEL_NAME@champion (as $MLFLOW_TRACKING_USERNAME)"
"$PYTHON" - "http://127.0.0.1:$MLFLOW_PORT" "$MODEL_NAME" <<'PY'
import sys

from mlflow import MlflowClient

uri, name = sys.argv[1], sys.argv[2]
client = MlflowClient(tracking_uri=uri, registry_uri=uri)
try:
    mv = client.get_model_version_by_alias(name, "champion")
except Exception as exc:
    versions = client.search_model_versions(f"name='{name}'")
    tags = [(v.version, v.aliases, v.tags.get("promotion")) for v in versions]
    sys.exit(f"no {name}@champion in {uri}: {exc}; versions (version, aliases, promotion): {tags}")
print(f"OK: {name} version {mv.version} is @champion (run {mv.run_id})")
PY
log "end-to-end check passed"
