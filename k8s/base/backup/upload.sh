#!/bin/sh
# Upload the dumps of pg-dump.sh to MinIO and apply retention (postgres-backup CronJob; runs in
# the minio/mc image, which has a shell but no awk/sed: only sh built-ins and mc are used).
#   BACKUP_DIR     local directory holding one folder per backup (from pg-dump.sh)
#   BACKUP_TARGET  mc path of the backups, default lstmtune/lstmtune-backups/postgres
#   BACKUP_KEEP    how many backups to keep, newest first (default 7)
#   S3_ENDPOINT, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY   the MinIO endpoint and credentials
set -eu

target="${BACKUP_TARGET:-lstmtune/lstmtune-backups/postgres}"
keep="${BACKUP_KEEP:-7}"
case "$keep" in '' | *[!0-9]* | 0) echo "BACKUP_KEEP must be a positive integer, got '$keep'" >&2; exit 2 ;; esac
alias_name="${target%%/*}"
bucket_path="${target#*/}"
bucket="${bucket_path%%/*}"

mc alias set "$alias_name" "${S3_ENDPOINT:?set S3_ENDPOINT}" "${AWS_ACCESS_KEY_ID:?}" "${AWS_SECRET_ACCESS_KEY:?}" >/dev/null
mc mb --ignore-existing "$alias_name/$bucket"

uploaded=0
for dir in "${BACKUP_DIR:?set BACKUP_DIR}"/*/; do
  [ -d "$dir" ] || continue
  name="${dir%/}"
  name="${name##*/}"
  mc cp --recursive "$dir" "$target/$name/"
  uploaded=$((uploaded + 1))
done
[ "$uploaded" -gt 0 ] || { echo "no backup found under $BACKUP_DIR" >&2; exit 1; }

# Retention. Backup names are UTC timestamps (20250131T021700Z) and S3 lists keys in lexical
# order, so the listing is oldest first: remove all but the last $keep. Only the last word of a
# `mc ls` line (the name) is used, and only names shaped like a timestamp count.
backups() {
  set -f # words like "[2025-01-31" are not globs
  mc ls "$target/" | while read -r line; do
    last=""
    for word in $line; do last="$word"; done
    case "${last%/}" in [0-9]*T[0-9]*Z) echo "${last%/}" ;; esac
  done
}
names="$(backups)"
total=0
for name in $names; do total=$((total + 1)); done
drop=$((total - keep))
for name in $names; do
  [ "$drop" -gt 0 ] || break
  echo "retention: removing $target/$name/ (keeping the newest $keep)"
  mc rm --recursive --force "$target/$name/"
  drop=$((drop - 1))
done
mc ls "$target/"
