#!/usr/bin/env bash
# Smoke test of the Go workflow on this host: create a VM, ssh into it, write
# to /root, list its ports, stop and start it, check /root survived, delete
# it. With --nat, also checks that the guest reaches the outside world
# through NAT (it fetches $VERIFY_NAT_URL, default http://deb.debian.org/,
# from inside the guest).
#
#   ./verify.sh [--nat] [--keep] [--name NAME]
set -euo pipefail
cd "$(dirname "$0")"
BANGER=${BANGER:-./banger}
NAME="verify-$RANDOM"
NAT=0
KEEP=0
while [ $# -gt 0 ]; do
  case "$1" in
    --nat) NAT=1 ;;
    --keep) KEEP=1 ;;
    --name) NAME="$2"; shift ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "verify.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
[ -x "$BANGER" ] || { echo "verify.sh: $BANGER not found; run make build" >&2; exit 1; }

step() { printf '==> %s\n' "$*"; }
cleanup() {
  if [ "$KEEP" = 0 ]; then "$BANGER" vm delete --force "$NAME" >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT

step "doctor"
"$BANGER" doctor >/dev/null || echo "   (doctor reports problems; continuing)"
args=(vm create --name "$NAME" --disk-size 4G)
[ "$NAT" = 1 ] && args+=(--nat)
step "create $NAME"
start=$(date +%s%N)
"$BANGER" "${args[@]}"
echo "   ssh answered after $(( ($(date +%s%N) - start) / 1000000 )) ms"
step "ssh and write /root"
"$BANGER" vm ssh "$NAME" -- 'echo verified > /root/verify.txt && uname -sr'
step "ports"
"$BANGER" vm ssh "$NAME" -- 'nohup python3 -m http.server 8000 </dev/null >/dev/null 2>&1 &'
# The server needs a moment to listen (seconds under TCG): poll for it.
deadline=$(( $(date +%s) + 60 ))
until out=$("$BANGER" vm ports "$NAME") && grep -q "http://$NAME.vm:8000/" <<<"$out"; do
  [ "$(date +%s)" -lt "$deadline" ] || { echo "$out" >&2; echo "verify.sh: vm ports never listed the guest's http.server on 8000" >&2; exit 1; }
  sleep 0.5
done
echo "$out"
step "stop and start"
"$BANGER" vm stop "$NAME"
"$BANGER" vm start "$NAME"
got=$("$BANGER" vm ssh "$NAME" -- cat /root/verify.txt)
[ "$got" = verified ] || { echo "verify.sh: /root did not survive stop/start (got '$got')" >&2; exit 1; }
if [ "$NAT" = 1 ]; then
  step "nat"
  url=${VERIFY_NAT_URL:-http://deb.debian.org/}
  "$BANGER" vm ssh "$NAME" -- curl -fsS -m 10 -o /dev/null "$url" || { echo "verify.sh: the guest cannot reach $url through NAT" >&2; exit 1; }
fi
step "stats"
"$BANGER" vm stats "$NAME"
echo "verify.sh: all checks passed"
