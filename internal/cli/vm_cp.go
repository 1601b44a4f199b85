package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"banger/internal/api"
	"banger/internal/execx"
	"banger/internal/termtext"
	"banger/internal/transfer"
)

func newVMCpCmd(e *env) *cobra.Command {
	var recursive bool
	cmd := &cobra.Command{
		Use:   "cp [-r] SRC... DST",
		Short: "Copy files and directories between the host and a running VM over ssh",
		Long: `Copy files between the host and a VM. Exactly one side is VM:PATH (a relative
PATH is under /root); the other is local. Directories need -r; modes and
modification times are kept. "-" as the source copies stdin into VM:PATH, as
the destination writes one VM file to stdout. Copies run over the VM's ssh
(tar on both ends), so the VM must be running.`,
		Example: `  banger vm cp ./notes.txt calm-otter:/root/
  banger vm cp -r ./project calm-otter:src
  banger vm cp calm-otter:/var/log/syslog .
  tar -cz . | banger vm cp - calm-otter:/root/src.tgz
  banger vm cp calm-otter:/etc/os-release - | head -3`,
		Args: cobra.MinimumNArgs(2),
		ValidArgsFunction: func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
			if strings.Contains(toComplete, ":") {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			names, _ := completeVMs(e)(cmd, nil, toComplete)
			for i, n := range names {
				names[i] = strings.SplitN(n, "\t", 2)[0] + ":"
			}
			return names, cobra.ShellCompDirectiveNoSpace | cobra.ShellCompDirectiveDefault
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			plan, err := transfer.ParseArgs(args)
			if err != nil {
				return usageError{err}
			}
			cp, err := newCopier(cmd.Context(), e, plan.VM)
			if err != nil {
				return err
			}
			if plan.Dir == transfer.Upload {
				return cp.upload(cmd.Context(), plan, recursive)
			}
			return cp.download(cmd.Context(), plan, recursive)
		},
	}
	cmd.Flags().BoolVarP(&recursive, "recursive", "r", false, "copy directories")
	return cmd
}

// copier runs the remote halves of a copy over the VM's ssh.
type copier struct {
	e  *env
	vm api.VM
	// argv is the command that runs a shell command line in the VM.
	argv func(remote string) []string
}

func newCopier(ctx context.Context, e *env, ref string) (*copier, error) {
	c, err := e.Client(ctx)
	if err != nil {
		return nil, err
	}
	vm, err := c.GetVM(ctx, ref)
	if err != nil {
		return nil, err
	}
	if vm.State != api.StateRunning {
		return nil, fmt.Errorf("vm %s is %s: start it with `banger vm start %s`", vm.Name, vm.State, vm.Name)
	}
	l, err := e.Layout()
	if err != nil {
		return nil, err
	}
	argv := func(remote string) []string {
		a := sshArgv(l, vm, []string{remote})
		return append([]string{a[0], "-o", "BatchMode=yes"}, a[1:]...)
	}
	return &copier{e: e, vm: vm, argv: argv}, nil
}

// remote runs `sh -c script sh args...` in the VM.
func (c *copier) remote(ctx context.Context, stdin io.Reader, stdout io.Writer, script string, args ...string) error {
	argv := c.argv(shellJoin(append([]string{"sh", "-c", script, "sh"}, args...)))
	err := execx.Stream{Argv: argv, Stdin: stdin, Stdout: stdout, StderrMax: 4 << 10}.Run(ctx)
	var ee *execx.Error
	if errors.As(err, &ee) {
		msg := strings.TrimSpace(ee.Stderr)
		if msg == "" {
			msg = ee.Err.Error()
		}
		// The guest wrote this text.
		return errors.New(termtext.EscapeLines(msg))
	}
	return err
}

func (c *copier) remoteOutput(ctx context.Context, script string, args ...string) (string, error) {
	var out strings.Builder
	err := c.remote(ctx, nil, &limitedWriter{w: &out, n: 64 << 10}, script, args...)
	return out.String(), err
}

// errCopyEnded is what packing sees when the guest's side has finished.
var errCopyEnded = errors.New("the copy ended")

const destKindScript = `p=$1
if [ -d "$p" ]; then echo dir
elif [ -e "$p" ] || [ -L "$p" ]; then echo file
elif [ -d "$(dirname -- "$p")" ]; then echo none
else echo noparent; fi`

const stdinScript = `if [ -d "$1" ]; then echo "$1 is a directory: name the file to write" >&2; exit 1; fi
cat > "$1"`

func (c *copier) upload(ctx context.Context, plan transfer.Plan, recursive bool) error {
	dst := plan.Dst
	if plan.Srcs[0].Stdio() {
		if err := c.remote(ctx, c.e.io.In, nil, stdinScript, dst.Path); err != nil {
			return fmt.Errorf("copy stdin to %s: %w", dst, err)
		}
		return nil
	}
	var srcs []transfer.Source
	seen := map[string]bool{}
	for _, s := range plan.Srcs {
		base, err := transfer.BaseName(s.Path)
		if err != nil {
			return err
		}
		if seen[base] {
			return fmt.Errorf("two sources are named %s: copy them one at a time", base)
		}
		seen[base] = true
		srcs = append(srcs, transfer.Source{Path: s.Path, Name: base})
	}
	total, err := transfer.Measure(srcs, recursive)
	if err != nil {
		return err
	}
	kind, err := c.remoteOutput(ctx, destKindScript, dst.Path)
	if err != nil {
		return fmt.Errorf("check %s: %w", dst, err)
	}
	kind = strings.TrimSpace(kind)
	dir := dst.Path
	switch kind {
	case "dir":
	case "file", "none":
		if len(srcs) > 1 {
			return fmt.Errorf("%s is not a directory: copying %d sources needs one", dst, len(srcs))
		}
		if st, _ := os.Stat(srcs[0].Path); st != nil && st.IsDir() && kind == "file" {
			return fmt.Errorf("cannot overwrite %s, which is not a directory, with directory %s", dst, srcs[0].Path)
		}
		dir, srcs[0].Name = path.Dir(dst.Path), path.Base(dst.Path)
	case "noparent":
		return fmt.Errorf("the directory of %s does not exist in %s", dst, c.vm.Name)
	default:
		return fmt.Errorf("check %s: unexpected answer %q", dst, termtext.Escape(kind))
	}

	bar := startProgress(c.e.io.ErrOut, total)
	pr, pw := io.Pipe()
	packErr := make(chan error, 1)
	go func() {
		err := transfer.Pack(pw, srcs, func(p string) {
			fmt.Fprintf(c.e.io.ErrOut, "banger: skipped %s (not a file, directory or symlink)\n", p)
		})
		pw.CloseWithError(err)
		packErr <- err
	}()
	err = c.remote(ctx, bar.Reader(pr), nil, `tar -x -p --no-same-owner -f - -C "$1"`, dir)
	pr.CloseWithError(errCopyEnded)
	perr := <-packErr
	bar.Finish()
	// A local failure explains the guest's (a cut stream); the guest
	// ending early only shows up here as errCopyEnded.
	if perr != nil && !errors.Is(perr, errCopyEnded) {
		return perr
	}
	if err != nil {
		return fmt.Errorf("copy to %s: %w", dst, err)
	}
	return nil
}

// srcKindScript prints one line per path: "d SIZE", "f SIZE" or "m".
const srcKindScript = `for p; do
if [ -d "$p" ]; then printf 'd %s\n' "$(du -sb -- "$p" 2>/dev/null | cut -f1)"
elif [ -e "$p" ] || [ -L "$p" ]; then printf 'f %s\n' "$(stat -c %s -- "$p" 2>/dev/null)"
else echo m; fi
done`

const stdoutScript = `if [ -d "$1" ]; then echo "$1 is a directory: - (stdout) takes one file" >&2; exit 1; fi
cat -- "$1"`

func (c *copier) download(ctx context.Context, plan transfer.Plan, recursive bool) error {
	dst := plan.Dst
	if dst.Stdio() {
		if err := c.remote(ctx, nil, c.e.io.Out, stdoutScript, plan.Srcs[0].Path); err != nil {
			return fmt.Errorf("copy %s: %w", plan.Srcs[0], err)
		}
		return nil
	}
	var remotePaths []string
	for _, s := range plan.Srcs {
		remotePaths = append(remotePaths, s.Path)
	}
	out, err := c.remoteOutput(ctx, srcKindScript, remotePaths...)
	if err != nil {
		return fmt.Errorf("check sources: %w", err)
	}
	kinds := strings.Split(strings.TrimSpace(out), "\n")
	if len(kinds) != len(plan.Srcs) {
		return fmt.Errorf("check sources: the guest answered %d lines for %d paths", len(kinds), len(plan.Srcs))
	}
	var total int64
	srcIsDir := false
	for i, k := range kinds {
		f := strings.Fields(k)
		switch {
		case len(f) == 1 && f[0] == "m":
			return fmt.Errorf("%s does not exist", plan.Srcs[i])
		case len(f) >= 1 && f[0] == "d" && !recursive:
			return fmt.Errorf("%s is a directory: copy it with -r", plan.Srcs[i])
		case len(f) >= 1 && (f[0] == "d" || f[0] == "f"):
			srcIsDir = srcIsDir || f[0] == "d"
			if len(f) == 2 {
				if n, err := strconv.ParseInt(f[1], 10, 64); err == nil && n > 0 {
					total += n
				}
			}
		default:
			return fmt.Errorf("check sources: unexpected answer %q", termtext.Escape(k))
		}
	}

	names := map[string]string{}
	var tarArgs []string
	for _, s := range plan.Srcs {
		base, err := transfer.BaseName(s.Path)
		if err != nil {
			return err
		}
		if _, dup := names[base]; dup {
			return fmt.Errorf("two sources are named %s: copy them one at a time", base)
		}
		names[base] = base
		tarArgs = append(tarArgs, "-C", path.Dir(strings.TrimRight(s.Path, "/")), "./"+base)
	}
	dir := dst.Path
	st, err := os.Stat(dst.Path)
	switch {
	case err == nil && st.IsDir():
	case err != nil && !errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("destination %s: %w", dst.Path, err)
	default:
		if len(plan.Srcs) > 1 {
			return fmt.Errorf("%s is not a directory: copying %d sources needs one", dst.Path, len(plan.Srcs))
		}
		if err == nil && srcIsDir {
			return fmt.Errorf("cannot overwrite %s, which is not a directory, with directory %s", dst.Path, plan.Srcs[0])
		}
		dir = filepath.Dir(dst.Path)
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			return fmt.Errorf("the directory of %s does not exist", dst.Path)
		}
		for k := range names {
			names[k] = filepath.Base(dst.Path)
		}
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	bar := startProgress(c.e.io.ErrOut, total)
	pr, pw := io.Pipe()
	remoteErr := make(chan error, 1)
	go func() {
		err := c.remote(ctx, nil, pw, `tar -c -f - "$@"`, tarArgs...)
		pw.CloseWithError(err)
		remoteErr <- err
	}()
	uerr := transfer.Unpack(bar.Reader(pr), dir, names, func(name string) {
		fmt.Fprintf(c.e.io.ErrOut, "banger: skipped %s (hard links, devices and FIFOs are not copied)\n", termtext.Escape(name))
	})
	if uerr != nil {
		cancel()
	}
	// Drain what the guest still sends (tar pads its end) so it exits.
	io.Copy(io.Discard, pr)
	rerr := <-remoteErr
	bar.Finish()
	if uerr != nil {
		return uerr
	}
	if rerr != nil {
		return fmt.Errorf("copy from %s: %w", c.vm.Name, rerr)
	}
	return nil
}

// limitedWriter keeps at most n bytes and drops the rest.
type limitedWriter struct {
	w io.Writer
	n int
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	if l.n <= 0 {
		return len(p), nil
	}
	k := min(len(p), l.n)
	l.n -= k
	l.w.Write(p[:k])
	return len(p), nil
}
