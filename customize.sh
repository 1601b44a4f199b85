#!/bin/sh
# customize.sh: boot a throwaway VM from IMAGE, run SCRIPT in it as root,
# and save the result as the new managed image NEW (banger image save).
# The VM is deleted afterwards, whatever happens (unless --keep and a step
# failed). Nothing is saved when SCRIPT fails.
#
#   ./customize.sh [--nat] [--memory MiB] [--keep] IMAGE SCRIPT NEW
#
#   --nat     give the VM outbound network (for apt-get, curl, ...)
#   --memory  memory of the throwaway VM in MiB
#   --keep    keep the VM when a step fails, to look around
#
# SCRIPT runs with /bin/sh unless it starts with #!. The banger binary is
# $BANGER, else banger beside this script, else on PATH; transient state
# goes to $BANGER_STATE_DIR/helpers (default ~/.local/state/banger/helpers).
set -eu
usage() { sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; }
. "$(dirname "$0")/packages.sh"

helper_parse_args "$@"
set -f; IFS='
'; set -- $HELPER_ARGS; unset IFS; set +f
[ $# -eq 3 ] || { usage >&2; exit 2; }
IMAGE=$1 SCRIPT=$2 NEW=$3
[ -f "$SCRIPT" ] && [ -r "$SCRIPT" ] || die "cannot read script $SCRIPT"
helper_init "$IMAGE" "$NEW"

throwaway_create "$IMAGE"
step "run ${SCRIPT##*/} in $THROWAWAY"
"$BANGER" vm cp "$SCRIPT" "$THROWAWAY:/tmp/banger-customize" || die "could not copy $SCRIPT into $THROWAWAY"
"$BANGER" vm ssh "$THROWAWAY" -- 'chmod 0755 /tmp/banger-customize && cd /root && /bin/sh -c /tmp/banger-customize' ||
  die "$SCRIPT failed in $THROWAWAY (exit $?); nothing was saved"
throwaway_save "$NEW"
echo "image $NEW saved; create a vm with: $BANGER vm create --image $NEW"
