#!/usr/bin/env bash
# Smoke test of the experimental Void image: create a VM from it, check it
# is Void with runit, that SSH works with root's shell bash and /bin/sh
# still the distribution's, that the guest agent answers, that Docker runs a
# container, and that /root survives stop/start. Deletes the VM at the end
# (unless --keep).
#
#   scripts/verify-void.sh [--image void-exp] [--name NAME] [--keep]
#
# Needs a registered Void image (make rootfs-void && make void-register).
# The Docker check runs `docker run` on an image already in the guest when
# there is one, else it pulls $VERIFY_VOID_DOCKER_IMAGE (default alpine),
# which needs the VM to reach a registry (create with NAT: VERIFY_VOID_NAT=1).
set -euo pipefail
cd "$(dirname "$0")/.."
BANGER=${BANGER:-./banger}
IMAGE=void-exp
NAME="verify-void-$RANDOM"
KEEP=0
while [ $# -gt 0 ]; do
  case "$1" in
    --image) IMAGE="$2"; shift ;;
    --name) NAME="$2"; shift ;;
    --keep) KEEP=1 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "verify-void.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
[ -x "$BANGER" ] || { echo "verify-void.sh: $BANGER not found; run make build" >&2; exit 1; }
"$BANGER" image show "$IMAGE" >/dev/null || { echo "verify-void.sh: no image $IMAGE; run make rootfs-void && make void-register" >&2; exit 1; }

step() { printf '==> %s\n' "$*"; }
fail() { echo "verify-void.sh: $*" >&2; exit 1; }
cleanup() {
  if [ "$KEEP" = 0 ]; then "$BANGER" vm delete --force "$NAME" >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT
g() { "$BANGER" vm ssh "$NAME" -- "$@"; }

args=(vm create --image "$IMAGE" --name "$NAME" --disk-size 4G)
[ "${VERIFY_VOID_NAT:-0}" = 1 ] && args+=(--nat)
step "create $NAME from $IMAGE"
start=$(date +%s%N)
"$BANGER" "${args[@]}"
echo "   ssh answered after $(( ($(date +%s%N) - start) / 1000000 )) ms"

step "the guest is Void on runit"
id=$(g '. /etc/os-release && echo "$ID"')
[ "$id" = void ] || fail "/etc/os-release ID is '$id', not void"
init=$(g 'cat /proc/1/comm')
case "$init" in runit|runit-init) ;; *) fail "PID 1 is '$init', not runit" ;; esac

step "shells: root uses bash, /bin/sh stays the distro's"
shell=$(g 'getent passwd root | cut -d: -f7')
[ "$shell" = /bin/bash ] || fail "root's shell is '$shell', not /bin/bash"
sh=$(g 'readlink -f /bin/sh')
case "$sh" in */bash) fail "/bin/sh is bash ($sh); it should stay Void's (dash)" ;; esac
echo "   root: $shell, /bin/sh -> $sh"

step "services under runit"
for svc in ssh banger-vsock-agent docker; do
  g "sv status /var/service/$svc" | grep -q '^run:' || fail "runit service $svc is not running: $(g "sv status /var/service/$svc" 2>&1)"
done

step "guest agent"
# Guest figures in vm stats come from the agent over vsock.
deadline=$(( $(date +%s) + 60 ))
until "$BANGER" vm stats --json "$NAME" | grep -q '"mem_total_bytes"'; do
  [ "$(date +%s)" -lt "$deadline" ] || fail "the agent never answered (vm stats has no guest figures): $("$BANGER" vm stats "$NAME")"
  sleep 1
done
# Listening ports also come from the agent: sshd's port 22 must be listed.
out=$("$BANGER" vm ports "$NAME")
grep -Eq ':22[[:space:]].*sshd' <<<"$out" || { echo "$out" >&2; fail "vm ports does not list sshd on port 22"; }

step "docker"
deadline=$(( $(date +%s) + 120 ))
until g 'docker info >/dev/null 2>&1'; do
  [ "$(date +%s)" -lt "$deadline" ] || fail "dockerd never answered: $(g 'sv status /var/service/docker; tail -n 20 /var/log/docker.log 2>/dev/null' 2>&1)"
  sleep 2
done
g 'docker compose version' || fail "docker compose is missing"
g 'sysctl -n net.ipv4.ip_forward' | grep -qx 1 || fail "net.ipv4.ip_forward is not 1"
g 'lsmod | grep -q br_netfilter' || fail "br_netfilter is not loaded"
dimg=${VERIFY_VOID_DOCKER_IMAGE:-alpine}
g "docker run --rm $dimg echo docker-ok" | grep -qx docker-ok || fail "docker run $dimg failed (pulling it needs network: VERIFY_VOID_NAT=1)"

step "/root survives stop/start"
g 'echo verified > /root/verify.txt && sync'
"$BANGER" vm stop "$NAME"
"$BANGER" vm start "$NAME"
got=$(g 'cat /root/verify.txt')
[ "$got" = verified ] || fail "/root did not survive stop/start (got '$got')"

step "ok: $IMAGE verified"
