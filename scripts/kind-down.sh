#!/usr/bin/env bash
# Delete the local kind cluster created by scripts/kind-up.sh (and everything in it).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
load_versions
require kind

if kind get clusters 2>/dev/null | grep -qx "$KIND_CLUSTER_NAME"; then
  log "deleting kind cluster '$KIND_CLUSTER_NAME'"
  kind delete cluster --name "$KIND_CLUSTER_NAME"
else
  log "no kind cluster named '$KIND_CLUSTER_NAME'; nothing to do"
fi
