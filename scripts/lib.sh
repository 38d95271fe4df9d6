# shellcheck shell=bash
# Helpers shared by scripts/kind-*.sh. Source it; do not execute it.

# Repository root, whatever the caller's working directory.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export ROOT

log() { printf '\033[1m[%s]\033[0m %s\n' "$(basename "$0")" "$*" >&2; }
die() { printf '[%s] ERROR: %s\n' "$(basename "$0")" "$*" >&2; exit 1; }

# require TOOL... : fail with an install hint for the first missing tool.
require() {
  local tool hint
  for tool in "$@"; do
    command -v "$tool" >/dev/null 2>&1 && continue
    case "$tool" in
      docker) hint="install Docker Engine / Docker Desktop: https://docs.docker.com/engine/install/" ;;
      kind) hint="install kind ${KIND_VERSION:-}: https://kind.sigs.k8s.io/docs/user/quick-start/#installation" ;;
      kubectl) hint="install kubectl >= 1.31 (kustomize built in): https://kubernetes.io/docs/tasks/tools/" ;;
      git) hint="kubectl needs git to fetch the remote KFP/Katib kustomizations" ;;
      curl) hint="install curl (apt-get install -y curl)" ;;
      *) hint="install it and make sure it is on PATH" ;;
    esac
    die "'$tool' not found on PATH: $hint"
  done
}

# load_versions: export k8s/versions.env; a variable already set in the environment wins
# (e.g. `LSTMTUNE_IMAGE=... make kind-up`).
load_versions() {
  local key value
  while IFS='=' read -r key value; do
    [[ -z "$key" || "$key" == \#* ]] && continue
    if [[ -z "${!key:-}" ]]; then
      export "$key=$value"
    else
      export "${key?}"
    fi
  done <"$ROOT/k8s/versions.env"
}

# Every kubectl call targets the kind cluster explicitly, never the current context.
kc() { kubectl --context "kind-${KIND_CLUSTER_NAME}" "$@"; }
