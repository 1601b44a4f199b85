package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"banger/internal/api"
	"banger/internal/disk"
	"banger/internal/image/imagebuild"
	"banger/internal/names"
)

// imageSaveOptions is one `banger image save`.
type imageSaveOptions struct {
	VM, Name, Size string
}

func newImageSaveCmd(e *env) *cobra.Command {
	var o imageSaveOptions
	cmd := &cobra.Command{
		Use:   "save VM --name NEW [--size SIZE]",
		Short: "Save a stopped VM as a new managed image (needs root)",
		Long: `Save makes a managed image from a stopped VM: what the VM saw as its root
(its image's rootfs with the VM's overlay applied) becomes the new image's
rootfs, and its /root work disk becomes the image's work seed. It is written
the way image build writes an image, with no host mount and no loop device.

The VM's identity is not saved (hostname, network, SSH host keys, authorized
keys, machine id, agent token, random seed, journal), nor /tmp, /run or
Docker's data (/var/lib/docker lives on the VM's overlay disk, outside the
overlayfs upper layer). A VM of the new image gets its own identity.

bangerd copies the VM's disks while it holds the VM's lock; the copy is read
as root (file owners), in this process when banger runs as root, else
through sudo. The VM is not changed. The new image boots with the kernel and
initrd of the VM's image.`,
		Example: `  banger vm stop dev && banger image save dev --name dev-snap
  banger vm create --image dev-snap`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeVMs(e),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.VM = args[0]
			return runImageSave(cmd.Context(), e, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Name, "name", "", "name of the new image (required)")
	f.StringVar(&o.Size, "size", "", "rootfs image size (e.g. 4G; default: content plus headroom)")
	return cmd
}

func runImageSave(ctx context.Context, e *env, o imageSaveOptions) error {
	start := time.Now()
	if o.Name == "" {
		return usagef("--name is required")
	}
	if err := names.Validate(o.Name); err != nil {
		return usagef("--name: %v", err)
	}
	var size int64
	if o.Size != "" {
		var err error
		if size, err = disk.ParseSize(o.Size); err != nil {
			return usagef("--size %q: %v", o.Size, err)
		}
	}
	cfg, err := e.Config()
	if err != nil {
		return err
	}
	l, err := e.Layout()
	if err != nil {
		return err
	}
	if o.Name == cfg.DefaultImage {
		return usagef("--name %s is the default image's name (from the runtime bundle); pick another", o.Name)
	}
	if err := checkRootPhase(); err != nil {
		return err
	}
	c, err := e.Client(ctx)
	if err != nil {
		return err
	}
	switch _, err := c.GetImage(ctx, o.Name); {
	case err == nil:
		return fmt.Errorf("image %s already exists: pick another --name, or delete it first with `banger image delete %s`", o.Name, o.Name)
	case !isNotFound(err):
		return err
	}

	x, err := c.ExportVM(ctx, o.VM)
	if err != nil {
		return err
	}
	defer os.RemoveAll(x.Dir)
	var src api.Image
	if x.Image != "" {
		if src, err = c.GetImage(ctx, x.Image); err != nil && !isNotFound(err) {
			return err
		}
	}

	logFile, logPath, err := openBuildLog(l.ImageBuildDir(), o.Name, start)
	if err != nil {
		return err
	}
	defer logFile.Close()
	out := e.io.Out
	fmt.Fprintf(out, "saving vm %s as image %s; log: %s\n", o.VM, o.Name, logPath)
	fmt.Fprintf(logFile, "# image save of vm %s (image %s) as %s\n", o.VM, x.Image, o.Name)
	fail := func(err error) error { return &imageBuildFailed{err: err, log: logPath} }

	version := newVersion(start)
	outDir := filepath.Join(l.ImagesDir(), o.Name, version)
	so := imagebuild.SaveOptions{
		BaseRootfs: x.Rootfs, Overlay: x.Overlay, WorkDisk: x.WorkDisk, Versions: src.Versions,
		Size: size, OutDir: outDir, Progress: out, Log: logFile,
	}
	if os.Geteuid() == 0 {
		_, err = imagebuild.Save(ctx, so)
	} else {
		err = runRootPhase(ctx, e, buildPhase{Save: &so, Log: logPath}, x.Dir)
	}
	if err != nil {
		os.RemoveAll(outDir)
		os.Remove(filepath.Dir(outDir))
		return fail(err)
	}
	req := api.RegisterImageRequest{Name: o.Name, Managed: true,
		Rootfs: filepath.Join(outDir, imagebuild.RootfsName), WorkSeed: filepath.Join(outDir, imagebuild.WorkSeedName),
		Kernel: src.Kernel, Initrd: src.Initrd, ModulesDir: src.ModulesDir, Packages: src.Packages}
	im, err := c.RegisterImage(ctx, req)
	if err != nil {
		os.RemoveAll(outDir)
		os.Remove(filepath.Dir(outDir))
		return fail(fmt.Errorf("register image %s: %w", o.Name, err))
	}
	fmt.Fprintf(out, "%s: saved from vm %s in %s (version %s)\n", im.Name, o.VM, time.Since(start).Round(100*time.Millisecond), version)
	fmt.Fprintf(logFile, "# done in %s: %s\n", time.Since(start).Round(time.Millisecond), outDir)
	return nil
}
