#!/bin/busybox sh
# banger guest init: PID 1 of the initrd, run before the image's init
# (systemd or runit: see internal/guestconfig). Everything here is the same
# for every init; only the service layer (sshd, the guest agent) is the init's.
#
# Contract with banger (keep in sync with internal/bundle's label constants):
#   - loads the modules listed in /etc/banger/modules, one path per line,
#     already in dependency order;
#   - overlay disk: the ext4 labelled banger-ovl; its /upper and /work
#     directories (created when missing) are the overlayfs upper and work dirs;
#   - work disk: the ext4 labelled banger-work, mounted read-write at /root
#     in the new root here, so nothing in the guest waits for udev to
#     announce the disk before local-fs.target; on systemd guests the
#     root.mount unit banger writes into the overlay stays the fallback
#     (another label, or a failed mount here: a warning, not a failed boot),
#     other inits have none;
#   - base rootfs: the virtio disk labelled banger-root, else the first
#     /dev/vd* disk that is neither of the two above; mounted read-only;
#   - the new root is overlayfs(lower=base, upper=ovl/upper, work=ovl/work);
#     base and overlay disk stay mounted at /run/banger/lower and
#     /run/banger/ovl inside it (this /run is handed over to the init);
#   - network: when the new root has banger's /etc/banger/network (or, in a
#     VM created before that file existed, /etc/systemd/network/10-banger.network),
#     with MACAddress=, Address=, Gateway=, the NIC with that MAC gets that
#     address and default route here, so the guest answers on the bridge
#     before udev and the init are up; systemd-networkd then keeps them (they
#     are what it is asked for), and on other inits nothing else touches
#     them. The loopback interface comes up too. A failure here is a warning;
#   - hostname: set from the new root's /etc/hostname (banger writes it per
#     VM), when it is a valid host name;
#   - Docker: when the new root has dockerd, /run/banger/ovl/docker is bind
#     mounted on its /var/lib/docker (overlay2 cannot sit on the overlayfs
#     root); a failure is a warning;
#   - /tmp: emptied here, at every boot, for every init (what Debian's
#     systemd-tmpfiles "D /tmp" does, which banger's image turns off: sshd
#     starts before systemd-tmpfiles-setup there, and a first login's
#     files in /tmp must not vanish under it); a symlinked /tmp is left
#     alone;
#   - any failure prints "banger-init: ..." on the console and reboots the
#     VM at once: the kernel runs with reboot=k, so the VMM exits.

LABEL_OVL=banger-ovl
LABEL_WORK=banger-work
LABEL_ROOT=banger-root

log() { echo "banger-init: $*"; }

die() {
	echo "banger-init: error: $*"
	echo "banger-init: cannot boot; stopping the VM"
	reboot -f
	echo b >/proc/sysrq-trigger
	while :; do sleep 60; done
}

# load_modules FILE: insmod every module listed in FILE, in order.
load_modules() {
	while read -r m; do
		[ -n "$m" ] || continue
		insmod "$m" 2>/dev/null || log "warning: insmod $m failed"
	done <"$1"
}

# pick_disks DEV...: set OVL, WORK and BASE from the candidate disks using the
# ext4 labels (findfs); BASE falls back to the first unlabelled candidate.
pick_disks() {
	OVL=$(findfs "LABEL=$LABEL_OVL" 2>/dev/null)
	WORK=$(findfs "LABEL=$LABEL_WORK" 2>/dev/null)
	BASE=$(findfs "LABEL=$LABEL_ROOT" 2>/dev/null)
	[ -n "$BASE" ] && return 0
	for d in "$@"; do
		if [ "$d" != "$OVL" ] && [ "$d" != "$WORK" ]; then
			BASE=$d
			return 0
		fi
	done
}

# wait_disks: wait up to ~5 s for the overlay disk to show up.
wait_disks() {
	i=0
	while [ $i -lt 50 ]; do
		findfs "LABEL=$LABEL_OVL" >/dev/null 2>&1 && return 0
		usleep 100000
		i=$((i + 1))
	done
	return 1
}

# mount_work ROOT: mount the work disk ($WORK, when found) at ROOT/root.
mount_work() {
	[ -n "$WORK" ] || return 0
	mkdir -p "$1/root" && mount -t ext4 "$WORK" "$1/root" ||
		log "warning: cannot mount the work disk $WORK at /root; leaving it to the init"
}

# net_up FILE NETDIR: configure the interface (under NETDIR, normally
# /sys/class/net) whose MAC is FILE's MACAddress= with its Address= and
# Gateway=.
net_up() {
	[ -f "$1" ] || return 0
	mac='' addr='' gw=''
	while IFS='=' read -r k v; do
		case "$k" in
		MACAddress) mac=$v ;;
		Address) [ -n "$addr" ] || addr=$v ;;
		Gateway) [ -n "$gw" ] || gw=$v ;;
		esac
	done <"$1"
	[ -n "$mac" ] && [ -n "$addr" ] || return 0
	for n in "$2"/*; do
		[ "$(cat "$n/address" 2>/dev/null)" = "$mac" ] || continue
		dev=${n##*/}
		if ! ip link set "$dev" up || ! ip addr add "$addr" dev "$dev"; then
			log "warning: cannot configure $dev ($addr); leaving it to the init"
			return 0
		fi
		[ -z "$gw" ] || ip route add default via "$gw" dev "$dev" ||
			log "warning: cannot add the default route via $gw; leaving it to the init"
		return 0
	done
	log "warning: no interface with MAC $mac; leaving the network to the init"
}

# net_file ROOT: the file net_up reads in ROOT, banger's own or the
# networkd unit of a VM made before it.
net_file() {
	if [ -f "$1/etc/banger/network" ]; then
		echo "$1/etc/banger/network"
	else
		echo "$1/etc/systemd/network/10-banger.network"
	fi
}

# set_hostname FILE: set the kernel's host name from FILE's first line.
set_hostname() {
	[ -f "$1" ] || return 0
	read -r h <"$1" || [ -n "$h" ] || return 0
	case "$h" in
	'' | -* | *[!a-z0-9-]*)
		log "warning: not a host name in $1; leaving the host name to the init"
		return 0
		;;
	esac
	hostname "$h" || log "warning: cannot set the host name $h"
}

# bind_docker ROOT: put ROOT's /var/lib/docker on the overlay disk's ext4
# (its docker/ directory) when ROOT has Docker.
bind_docker() {
	has=''
	for d in usr/bin/dockerd usr/sbin/dockerd; do
		if [ -e "$1/$d" ] || [ -L "$1/$d" ]; then
			has=1
		fi
	done
	[ -n "$has" ] || return 0
	mkdir -p "$1/var/lib/docker" && mount --bind /run/banger/ovl/docker "$1/var/lib/docker" ||
		log "warning: cannot put /var/lib/docker on the overlay disk"
}

# clean_tmp ROOT: empty ROOT/tmp (files, dot files, directories; links
# are removed, never followed). Nothing else is touched.
clean_tmp() {
	[ -d "$1/tmp" ] && [ ! -L "$1/tmp" ] || return 0
	rm -rf "$1"/tmp/* "$1"/tmp/.[!.]* "$1"/tmp/..?* ||
		log "warning: cannot empty /tmp"
}

main() {
	/bin/busybox mkdir -p /sbin /usr/bin /usr/sbin /proc /sys /dev /run
	/bin/busybox --install -s
	PATH=/bin:/sbin:/usr/bin:/usr/sbin
	export PATH

	mount -t proc -o nosuid,nodev,noexec proc /proc
	mount -t sysfs -o nosuid,nodev,noexec sysfs /sys
	mount -t devtmpfs -o nosuid,mode=0755 devtmpfs /dev
	mount -t tmpfs -o nosuid,nodev,mode=0755,size=20% tmpfs /run

	load_modules /etc/banger/modules
	wait_disks || log "warning: no disk labelled $LABEL_OVL after 5s"

	set -- /dev/vd[a-z]
	[ -b "$1" ] || die "no virtio disks (/dev/vd*) found"
	pick_disks "$@"
	[ -n "$OVL" ] || die "no overlay disk: no ext4 disk labelled $LABEL_OVL among $*"
	[ -n "$BASE" ] || die "no base rootfs disk: every disk among $* is the overlay or work disk"

	mkdir -p /run/banger/lower /run/banger/ovl /newroot
	# No -t: a registered image may be another filesystem than ext4.
	mount -o ro "$BASE" /run/banger/lower ||
		die "cannot mount the base rootfs $BASE read-only"
	mount -t ext4 -o rw,noatime "$OVL" /run/banger/ovl ||
		die "cannot mount the overlay disk $OVL ($LABEL_OVL)"
	# docker/ holds /var/lib/docker (bind_docker, and systemd guests'
	# var-lib-docker.mount): overlay2 needs a real filesystem under it, not
	# the overlayfs root.
	mkdir -p /run/banger/ovl/upper /run/banger/ovl/work /run/banger/ovl/docker ||
		die "cannot create upper/work/docker on the overlay disk $OVL"
	mount -t overlay overlay \
		-o lowerdir=/run/banger/lower,upperdir=/run/banger/ovl/upper,workdir=/run/banger/ovl/work \
		/newroot || die "cannot mount the overlay root ($BASE + $OVL)"
	[ -e /newroot/sbin/init ] || [ -L /newroot/sbin/init ] ||
		die "the base rootfs $BASE has no /sbin/init"
	log "root is $BASE (read-only) + overlay $OVL; work disk ${WORK:-absent}"
	mount_work /newroot
	bind_docker /newroot
	clean_tmp /newroot
	ip link set lo up || log "warning: cannot bring up the loopback interface"
	net_up "$(net_file /newroot)" /sys/class/net
	set_hostname /newroot/etc/hostname

	mkdir -p /newroot/run /newroot/dev
	mount --move /run /newroot/run || die "cannot move /run into the new root"
	mount --move /dev /newroot/dev || die "cannot move /dev into the new root"
	umount /sys /proc
	exec switch_root /newroot /sbin/init
	die "switch_root failed"
}

[ -n "$BANGER_INIT_LIB" ] || main
