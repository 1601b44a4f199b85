#!/bin/sh
# interactive.sh: boot a throwaway VM from IMAGE and open an SSH session in
# it; when you leave the shell, the VM is saved as the new managed image NEW
# (banger image save) and deleted. To leave without saving, answer "n" when
# asked (or run `touch /tmp/banger-discard` in the VM before you exit).
#
#   ./interactive.sh [--nat] [--memory MiB] [--keep] IMAGE NEW
#
#   --nat     give the VM outbound network (for apt-get, curl, ...)
#   --memory  memory of the throwaway VM in MiB
#   --keep    keep the VM when a step fails or you discard it
#
# The banger binary is $BANGER, else banger beside this script, else on
# PATH; transient state goes to $BANGER_STATE_DIR/helpers (default
# ~/.local/state/banger/helpers).
set -eu
usage() { sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; }
. "$(dirname "$0")/packages.sh"

helper_parse_args "$@"
set -f; IFS='
'; set -- $HELPER_ARGS; unset IFS; set +f
[ $# -eq 2 ] || { usage >&2; exit 2; }
IMAGE=$1 NEW=$2
helper_init "$IMAGE" "$NEW"

throwaway_create "$IMAGE"
step "ssh into $THROWAWAY; exit the shell to save it as image $NEW"
"$BANGER" vm ssh "$THROWAWAY" || echo "(the session ended with status $?)"
if "$BANGER" vm ssh "$THROWAWAY" -- test -e /tmp/banger-discard 2>/dev/null; then
  echo "discarded (/tmp/banger-discard exists); nothing was saved"
  exit 0
fi
if [ -t 0 ]; then
  printf 'save %s as image %s? [Y/n] ' "$THROWAWAY" "$NEW"
  read -r answer || answer=n
  case "$answer" in
    n|N|no|No) echo "nothing was saved"; exit 0 ;;
  esac
fi
throwaway_save "$NEW"
echo "image $NEW saved; create a vm with: $BANGER vm create --image $NEW"
