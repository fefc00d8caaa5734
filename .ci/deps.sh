#!/usr/bin/env bash
# Installs the external programs (and the libraries they need at run time)
# that the tests drive, by Debian package name. Packages are installed without
# their "Recommends", so every library a test needs is named in the table
# below: swaks, for one, speaks TLS only with Net::SSLeay
# (libnet-ssleay-perl), which Debian merely recommends.
#
# Each row is one package and a probe: a shell command that succeeds when the
# package is usable. A row whose probe fails is installed; after installing,
# every probe runs again and a package still failing is reported by name.
# Under CI=true that is a failure (exit 1), never a silent skip; elsewhere a
# warning. The apt lock may be held by another process: apt waits for it
# (up to APT_LOCK_TIMEOUT seconds) instead of failing.
#
# To add a tool: one row (package, probe). Keep probes cheap and quiet.
set -euo pipefail

APT_LOCK_TIMEOUT=${APT_LOCK_TIMEOUT:-900}

# package               probe
table=$(cat <<'EOF'
curl                    command -v curl
openssl                 command -v openssl
python3                 command -v python3
bsdutils                command -v script
swaks                   command -v swaks
libnet-ssleay-perl      perl -MNet::SSLeay -e1
fetchmail               command -v fetchmail
mutt                    command -v mutt
isync                   command -v mbsync
python3-dkim            python3 -c 'import dkim' || /usr/bin/python3 -c 'import dkim'
vdirsyncer              command -v vdirsyncer
khal                    command -v khal
khard                   command -v khard
python3-caldav          python3 -c 'import caldav' || /usr/bin/python3 -c 'import caldav'
litmus                  command -v litmus
rclone                  command -v rclone
cadaver                 command -v cadaver
rspamd                  command -v rspamd
python3-exchangelib     /usr/bin/python3 -c 'import exchangelib'
chromium                command -v chromium
nodejs                  command -v node
npm                     command -v npm
EOF
)

# probe_missing prints the packages of the table whose probe fails.
probe_missing() {
  local pkg probe
  while read -r pkg probe; do
    [ -z "$pkg" ] && continue
    bash -c "$probe" >/dev/null 2>&1 || echo "$pkg"
  done <<<"$table"
}

mapfile -t missing < <(probe_missing)
if [ ${#missing[@]} -eq 0 ]; then
  echo "deps: all test tools present"
  exit 0
fi

fail() {
  echo "deps: $*" >&2
  if [ "${CI:-}" = "true" ]; then exit 1; fi
  exit 0
}

echo "deps: installing ${missing[*]}"
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  fail "cannot install ${missing[*]}: not root or no apt-get; install them by hand (apt-get install ${missing[*]})"
fi

export DEBIAN_FRONTEND=noninteractive
apt=(apt-get -o "DPkg::Lock::Timeout=$APT_LOCK_TIMEOUT" -o Acquire::Retries=3)
# apt-get update takes the lists lock, which DPkg::Lock::Timeout does not
# cover in every apt version: retry while another apt holds it.
for i in $(seq 1 $((APT_LOCK_TIMEOUT / 10))); do
  if "${apt[@]}" update -qq; then break; fi
  [ "$i" -eq $((APT_LOCK_TIMEOUT / 10)) ] && fail "apt-get update failed"
  echo "deps: apt-get update failed (lock held?); retrying in 10s" >&2
  sleep 10
done
"${apt[@]}" install -y -qq --no-install-recommends "${missing[@]}" ||
  fail "apt-get install ${missing[*]} failed"

mapfile -t still < <(probe_missing)
if [ ${#still[@]} -ne 0 ]; then
  fail "still unusable after installing: ${still[*]} (apt-get install ${still[*]})"
fi
echo "deps: installed ${missing[*]}"
