#!/usr/bin/env bash
# Installs the external programs the interop suite drives. Debian packages,
# installed with apt-get when missing (the CI machine is root). Under CI=true a
# tool that cannot be installed is a failure, never a silent skip.
set -euo pipefail

# command -> Debian package
declare -A pkgs=(
  [swaks]=swaks
  [curl]=curl
  [fetchmail]=fetchmail
  [python3]=python3
  [openssl]=openssl
  # IMAP interop (server/interop/imap_test.go): mutt in batch mode under
  # script(1) (bsdutils, essential), mbsync syncing a Maildir both ways.
  [mutt]=mutt
  [mbsync]=isync
  [script]=bsdutils
)
missing=()
for cmd in "${!pkgs[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${pkgs[$cmd]}")
done
# Python modules (no command to look for): dkimpy, the independent DKIM
# verifier of server/dkim's tests (Debian's python3 may not be first in PATH).
if ! python3 -c 'import dkim' >/dev/null 2>&1 && ! /usr/bin/python3 -c 'import dkim' >/dev/null 2>&1; then
  missing+=(python3-dkim)
fi
[ ${#missing[@]} -eq 0 ] && { echo "deps: all interop tools present"; exit 0; }

echo "deps: installing ${missing[*]}"
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "deps: cannot install ${missing[*]}: not root or no apt-get; install them by hand" >&2
  [ "${CI:-}" = "true" ] && exit 1
fi
