package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"

	"banger/internal/daemon/apierr"
	"banger/internal/disk"
	"banger/internal/guestconfig"
	"banger/internal/store"
)

// detectInit names the init of the rootfs image at rootfs from where its
// /sbin/init leads (read with debugfs, never mounted).
func detectInit(ctx context.Context, rootfs string) (guestconfig.Init, error) {
	p, err := disk.ResolvePath(ctx, rootfs, "/sbin/init")
	if errors.Is(err, disk.ErrNotInImage) {
		return "", fmt.Errorf("rootfs %s has no /sbin/init: banger's initrd starts the image's /sbin/init, which must be systemd or runit", rootfs)
	}
	if err != nil {
		return "", fmt.Errorf("detect the init of %s: %w", rootfs, err)
	}
	init, err := guestconfig.InitFromPath(p)
	if err != nil {
		return "", fmt.Errorf("rootfs %s: %w", rootfs, err)
	}
	return init, nil
}

// registrationInit is the init to record for an image being registered
// with rootfs: the one asked for (--init), else the detected one. Either
// failure is the caller's bad input.
func registrationInit(ctx context.Context, asked, rootfs string) (string, error) {
	if asked != "" {
		init, err := guestconfig.ParseInit(asked)
		if err != nil {
			return "", apierr.Invalid("%v", err)
		}
		return string(init), nil
	}
	init, err := detectInit(ctx, rootfs)
	if err != nil {
		return "", apierr.Invalid("%v", err)
	}
	return string(init), nil
}

// imageInit is the init of a VM of img whose lower layer is rootfs: the
// recorded one when rootfs is the image's, else (a VM made from an earlier
// version of an image registered again in place) rootfs's own. An image
// recorded before inits were detected gets its init detected and recorded
// now.
func (d *Daemon) imageInit(ctx context.Context, img *store.Image, rootfs string) (guestconfig.Init, error) {
	if rootfs != "" && rootfs != img.Rootfs {
		if init, err := detectInit(ctx, rootfs); err == nil {
			return init, nil
		}
		// A pinned copy (hard link) of the image's rootfs that cannot be
		// read is the image's: fall through to its record.
	}
	if img.Init != "" {
		return guestconfig.ParseInit(img.Init)
	}
	d.fillInit(ctx, img)
	if img.Init == "" {
		_, err := detectInit(ctx, img.Rootfs)
		return "", apierr.Invalid("image %s: %v (register it again with `banger image register --init systemd|runit`)", img.Name, err)
	}
	return guestconfig.Init(img.Init), nil
}

// fillInit detects and records the init of an image recorded before
// banger detected inits; on failure img.Init stays "" and the reason is
// logged.
func (d *Daemon) fillInit(ctx context.Context, img *store.Image) {
	if img.Init != "" {
		return
	}
	// `image list` runs this for every image each time (the TUI polls
	// it): a rootfs that could not be read is tried again only once it
	// changed.
	key := undetectedKey(img.Rootfs)
	if _, failed := undetectedInits.Load(key); failed {
		return
	}
	init, err := detectInit(ctx, img.Rootfs)
	if err != nil {
		undetectedInits.Store(key, true)
		d.log.Warn("image init not detected", "image", img.Name, "error", err)
		return
	}
	if err := d.store.SetImageInit(ctx, img.ID, string(init)); err != nil {
		d.log.Warn("record image init", "image", img.Name, "error", err)
	}
	img.Init = string(init)
}

// vmInit is the init of an existing VM's lower layer, for rewriting its
// guest files (clone).
func (d *Daemon) vmInit(ctx context.Context, v *store.VM) (guestconfig.Init, error) {
	img, err := d.store.ResolveImage(ctx, v.ImageID)
	if err != nil {
		// The image record is gone; the VM's rootfs still says.
		init, derr := detectInit(ctx, v.Rootfs)
		if derr != nil {
			return "", apierr.Invalid("vm %s: %v", v.Name, derr)
		}
		return init, nil
	}
	return d.imageInit(ctx, &img, v.Rootfs)
}

// undetectedInits holds undetectedKey of each rootfs whose init could not
// be detected.
var undetectedInits sync.Map

// undetectedKey names a rootfs file as it is now: path, size and mtime.
func undetectedKey(rootfs string) string {
	st, err := os.Stat(rootfs)
	if err != nil {
		return rootfs
	}
	return fmt.Sprintf("%s %d %d", rootfs, st.Size(), st.ModTime().UnixNano())
}
