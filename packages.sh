# packages.sh: the shell helper library of customize.sh and interactive.sh
# (source it; it runs nothing by itself). Every VM and image operation goes
# through the banger CLI:
#
#   banger_bin               the banger binary: $BANGER, else banger beside
#                            this file, else banger on PATH
#   helper_state_dir         transient state: $BANGER_STATE_DIR, else
#                            $XDG_STATE_HOME/banger (~/.local/state/banger),
#                            plus /helpers
#   read_packages FILE       the package names of a packages.apt-style file
#   apt_install_script FILE  a guest script installing FILE's packages (the
#                            throwaway VM needs --nat to reach the archive)
#   helper_parse_args ...    common options: --nat, --memory MiB, --keep
#   throwaway_create IMAGE   boot a throwaway VM from IMAGE; its name is in
#                            $THROWAWAY, deleted on exit unless --keep
#   throwaway_save NEW       stop the throwaway VM and save it as image NEW
#
# The runtime bundle (kernel, initrd, default image) is banger's: it reads
# BANGER_RUNTIME_DIR itself.

die() { echo "${0##*/}: $*" >&2; exit 1; }
step() { printf '==> %s\n' "$*"; }

banger_bin() {
  if [ -n "${BANGER:-}" ]; then
    echo "$BANGER"
  elif [ -x "$(dirname "$0")/banger" ]; then
    echo "$(dirname "$0")/banger"
  elif command -v banger >/dev/null 2>&1; then
    command -v banger
  else
    return 1
  fi
}

helper_state_dir() {
  d=${BANGER_STATE_DIR:-${XDG_STATE_HOME:-$HOME/.local/state}/banger}/helpers
  mkdir -p "$d" && echo "$d"
}

read_packages() {
  [ -r "$1" ] || die "cannot read package list $1"
  sed -e 's/#.*//' "$1" | tr -s ' \t' '\n\n' | sed '/^$/d'
}

apt_install_script() {
  pkgs=$(read_packages "$1" | tr '\n' ' ')
  [ -n "$pkgs" ] || die "$1 lists no packages"
  cat <<SCRIPT
#!/bin/sh
set -eu
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends $pkgs
apt-get clean
SCRIPT
}

# helper_parse_args sets HELPER_NAT, HELPER_MEMORY, HELPER_KEEP and leaves
# the positional arguments in HELPER_ARGS (newline-separated).
helper_parse_args() {
  HELPER_NAT=0 HELPER_MEMORY= HELPER_KEEP=0 HELPER_ARGS=
  while [ $# -gt 0 ]; do
    case "$1" in
      --nat) HELPER_NAT=1 ;;
      --memory) [ $# -ge 2 ] || die "--memory needs a size in MiB"; HELPER_MEMORY=$2; shift ;;
      --keep) HELPER_KEEP=1 ;;
      -h|--help) usage; exit 0 ;;
      --) shift; break ;;
      -*) die "unknown option $1 (see --help)" ;;
      *) HELPER_ARGS="$HELPER_ARGS$1
" ;;
    esac
    shift
  done
  for a in "$@"; do HELPER_ARGS="$HELPER_ARGS$a
"; done
}

# helper_init finds banger, checks that IMAGE exists and NEW does not, and
# cleans up throwaway VMs of helper runs that died without doing it.
helper_init() {
  BANGER=$(banger_bin) || die "banger not found: put it on PATH or set BANGER"
  STATE=$(helper_state_dir) || die "cannot create the helper state directory"
  for rec in "$STATE"/*.vm; do
    [ -e "$rec" ] || continue
    pid=$(sed -n 1p "$rec")
    if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
      vm=$(basename "$rec" .vm)
      echo "removing throwaway vm $vm of an earlier run (pid $pid)" >&2
      "$BANGER" vm delete --force "$vm" >/dev/null 2>&1 || true
      rm -f "$rec"
    fi
  done
  "$BANGER" image show "$1" >/dev/null || die "no image $1 (see: $BANGER image list)"
  if "$BANGER" image show "$2" >/dev/null 2>&1; then
    die "image $2 already exists: pick another name, or delete it first with: $BANGER image delete $2"
  fi
}

throwaway_cleanup() {
  [ -n "${THROWAWAY:-}" ] || return 0
  if [ "$HELPER_KEEP" = 1 ] && [ "${HELPER_SAVED:-0}" = 0 ]; then
    echo "keeping vm $THROWAWAY (--keep); delete it with: $BANGER vm delete --force $THROWAWAY" >&2
  else
    "$BANGER" vm delete --force "$THROWAWAY" >/dev/null 2>&1 ||
      echo "warning: could not delete the throwaway vm $THROWAWAY" >&2
  fi
  rm -f "$STATE/$THROWAWAY.vm"
}

throwaway_create() {
  THROWAWAY=bh-$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
  echo "$$" >"$STATE/$THROWAWAY.vm"
  trap throwaway_cleanup EXIT
  trap 'exit 130' INT TERM
  set -- vm create --image "$1" --name "$THROWAWAY"
  [ "$HELPER_NAT" = 1 ] && set -- "$@" --nat
  [ -n "$HELPER_MEMORY" ] && set -- "$@" --memory "$HELPER_MEMORY"
  step "boot throwaway vm $THROWAWAY"
  "$BANGER" "$@" || die "could not create the throwaway vm"
}

throwaway_save() {
  step "stop $THROWAWAY"
  "$BANGER" vm stop "$THROWAWAY" || die "could not stop $THROWAWAY"
  step "save $THROWAWAY as image $1"
  "$BANGER" image save "$THROWAWAY" --name "$1" || die "could not save $THROWAWAY as image $1"
  HELPER_SAVED=1
}
