package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"banger/internal/api"
)

func newImageCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "image", Short: "List, show, register and delete images", Args: cobra.NoArgs}
	var asJSON bool
	list := &cobra.Command{
		Use: "list", Aliases: []string{"ls"}, Short: "List images", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := e.Client(cmd.Context())
			if err != nil {
				return err
			}
			ims, err := c.ListImages(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				if ims == nil {
					ims = []api.Image{}
				}
				return printJSON(e.io.Out, ims)
			}
			if len(ims) == 0 {
				fmt.Fprintln(e.io.Out, "no images: build the runtime bundle with `make runtime-bundle`, or register a rootfs with `banger image register`")
				return nil
			}
			t := newTable(e.io.Out)
			fmt.Fprintln(t, "NAME\tID\tMANAGED\tWORK-SEED\tROOTFS")
			for _, im := range ims {
				seed := "no"
				if im.WorkSeed != "" {
					seed = "yes"
				}
				fmt.Fprintf(t, "%s\t%s\t%v\t%s\t%s\n", im.Name, im.ID[:8], im.Managed, seed, im.Rootfs)
			}
			return t.Flush()
		},
	}
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")

	show := &cobra.Command{
		Use: "show REF", Short: "Show an image", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.Client(cmd.Context())
			if err != nil {
				return err
			}
			im, err := c.GetImage(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(e.io.Out, im)
			}
			printImage(e, im)
			return nil
		},
	}
	show.Flags().BoolVar(&asJSON, "json", false, "print JSON")

	del := &cobra.Command{
		Use: "delete REF", Short: "Delete an image (a built image's files too; refused while VMs use it)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.Client(cmd.Context())
			if err != nil {
				return err
			}
			im, err := c.DeleteImage(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(e.io.Out, im)
			}
			fmt.Fprintf(e.io.Out, "%s: deleted\n", im.Name)
			return nil
		},
	}
	del.Flags().BoolVar(&asJSON, "json", false, "print JSON")

	var reg api.RegisterImageRequest
	register := &cobra.Command{
		Use:   "register",
		Short: "Register a local rootfs as an unmanaged image (updates it in place if the name exists)",
		Example: `  banger image register --name local-test --rootfs /abs/path/rootfs.ext4
  banger image register --name void-exp --rootfs ./runtime/rootfs-void.ext4 --work-seed ./runtime/rootfs-void.work-seed.ext4`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if reg.Name == "" || reg.Rootfs == "" {
				return usagef("--name and --rootfs are required")
			}
			c, err := e.Client(cmd.Context())
			if err != nil {
				return err
			}
			im, err := c.RegisterImage(cmd.Context(), absPaths(reg))
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(e.io.Out, im)
			}
			fmt.Fprintf(e.io.Out, "%s: registered\n", im.Name)
			return nil
		},
	}
	rf := register.Flags()
	rf.StringVar(&reg.Name, "name", "", "image name")
	rf.StringVar(&reg.Rootfs, "rootfs", "", "ext4 rootfs image")
	rf.StringVar(&reg.WorkSeed, "work-seed", "", "ext4 work-seed for /root")
	rf.StringVar(&reg.Kernel, "kernel", "", "kernel (default: the default image's)")
	rf.StringVar(&reg.Initrd, "initrd", "", "initrd (default: the default image's)")
	rf.StringVar(&reg.ModulesDir, "modules", "", "kernel modules directory")
	rf.StringVar(&reg.Packages, "packages", "", "package manifest")
	rf.BoolVar(&asJSON, "json", false, "print JSON")

	cmd.AddCommand(list, show, del, register, newImageFetchCmd(e), newImageBuildCmd(e), newImageSaveCmd(e), newImageBuildPhaseCmd(e))
	return cmd
}

func printImage(e *env, im api.Image) {
	t := newTable(e.io.Out)
	fmt.Fprintf(t, "name:\t%s\nid:\t%s\nmanaged:\t%v\nrootfs:\t%s\n", im.Name, im.ID, im.Managed, im.Rootfs)
	for _, kv := range [][2]string{{"work seed", im.WorkSeed}, {"kernel", im.Kernel}, {"initrd", im.Initrd}, {"modules", im.ModulesDir}, {"packages", im.Packages}} {
		if kv[1] != "" {
			fmt.Fprintf(t, "%s:\t%s\n", kv[0], kv[1])
		}
	}
	printImageVersions(t, im.Versions)
	t.Flush()
}
