package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"banger/internal/humanize"
	"banger/internal/image/artifacts"
)

// imageFetchOptions is one `banger image fetch`.
type imageFetchOptions struct {
	Mirror   string // fill this directory in the mirror layout
	Packages string // extra Debian packages to cache (image build's --packages)
	JSON     bool

	// Set by tests; the pinned artifacts and the npm registry otherwise.
	Artifacts []artifacts.Artifact
	Registry  string
}

func newImageFetchCmd(e *env) *cobra.Command {
	var o imageFetchOptions
	cmd := &cobra.Command{
		Use:   "fetch",
		Short: "Download and verify the image build's pinned artifacts (no daemon needed)",
		Long: `Fetch runs only the fetch phase of an image build, in this process: every
pinned artifact (mise, opencode, the tmux plugins) is taken from
artifact_mirror, the cache (~/.cache/banger/artifacts) or its origin, and
verified against its pin (npm sha512 integrity, git commit id).

With --mirror DIR the artifacts are also copied into DIR in the mirror
layout, so a host without network can set artifact_mirror = "DIR". Mirror
file names: npm packages as <npm pack name>-<version>.tgz, git
repositories as <name>-<tag>.bundle.`,
		Example: `  banger image fetch
  banger image fetch --mirror /media/usb/banger-mirror
  BANGER_ARTIFACT_MIRROR=/srv/banger-mirror banger image fetch --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runImageFetch(cmd.Context(), e, o)
		},
	}
	cmd.Flags().StringVar(&o.Mirror, "mirror", "", "also copy every artifact into this directory, in the mirror layout")
	cmd.Flags().BoolVar(&o.JSON, "json", false, "print JSON")
	cmd.Flags().StringVar(&o.Packages, "packages", "", "also cache these extra Debian packages (as image build --packages)")
	return cmd
}

// fetchedArtifact is one line of `image fetch --json`.
type fetchedArtifact struct {
	Name       string `json:"name"`
	Kind       string `json:"kind"`
	Pin        string `json:"pin"`
	File       string `json:"file"`
	Source     string `json:"source"`
	From       string `json:"from"`
	Path       string `json:"path"`
	Size       int64  `json:"size"`
	DurationMS int64  `json:"duration_ms"`
	MirrorPath string `json:"mirror_path,omitempty"`
}

func runImageFetch(ctx context.Context, e *env, o imageFetchOptions) error {
	cfg, err := e.Config()
	if err != nil {
		return err
	}
	l, err := e.Layout()
	if err != nil {
		return err
	}
	if o.Mirror != "" {
		abs, err := filepath.Abs(o.Mirror)
		if err != nil {
			return usagef("--mirror %q: %v", o.Mirror, err)
		}
		if st, err := os.Stat(abs); err == nil && !st.IsDir() {
			return usagef("--mirror %q: not a directory", o.Mirror)
		}
		o.Mirror = abs
	}
	arts := o.Artifacts
	if arts == nil {
		arts = artifacts.Pinned()
	}
	f := &artifacts.Fetcher{Mirror: cfg.ArtifactMirror, CacheDir: l.ArtifactCacheDir(), Registry: o.Registry}

	var out []fetchedArtifact
	var errs []error
	if !o.JSON {
		fmt.Fprintf(e.io.Out, "%-16s %-10s %-7s %10s %8s  %s\n", "ARTIFACT", "PIN", "SOURCE", "SIZE", "TIME", "PATH")
	}
	for _, a := range arts {
		r, err := f.Fetch(ctx, a)
		if err != nil {
			if ctx.Err() != nil {
				return err
			}
			errs = append(errs, err)
			continue
		}
		fa := fetchedArtifact{
			Name: a.Name, Kind: string(a.Kind), Pin: a.Pin(), File: a.FileName(),
			Source: string(r.Source), From: r.From, Path: r.Path, Size: r.Size, DurationMS: r.Duration.Milliseconds(),
		}
		if o.Mirror != "" {
			if fa.MirrorPath, _, err = f.FillMirror(ctx, r, o.Mirror); err != nil {
				errs = append(errs, err)
				continue
			}
		}
		out = append(out, fa)
		if !o.JSON {
			fmt.Fprintf(e.io.Out, "%-16s %-10s %-7s %10s %8s  %s\n", a.Name, a.Pin(), r.Source, humanize.Bytes(r.Size), r.Duration.Round(time.Millisecond), r.Path)
		}
	}
	if o.JSON {
		if out == nil {
			out = []fetchedArtifact{}
		}
		if err := printJSON(e.io.Out, out); err != nil {
			return err
		}
	} else if o.Mirror != "" && len(errs) == 0 {
		fmt.Fprintf(e.io.Out, "mirror %s holds all %d artifacts: on a host without network set artifact_mirror = %q (or BANGER_ARTIFACT_MIRROR)\n", o.Mirror, len(out), o.Mirror)
	}
	if o.Artifacts == nil && !o.JSON {
		if err := fetchDebsForDefaultBase(ctx, e, o.Packages); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
