package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"banger/internal/api"
	"banger/internal/paths"
	"banger/internal/termtext"
	"banger/internal/vmm/bootlog"
)

// logPoll is how often -f looks for more output or a new boot.
const logPoll = 250 * time.Millisecond

type vmLogsOptions struct {
	follow bool
	boot   int
	vmm    bool
}

func newVMLogsCmd(e *env) *cobra.Command {
	var o vmLogsOptions
	cmd := &cobra.Command{
		Use:   "logs REF",
		Short: "Print a VM's console log (the current boot's, or an earlier one with --boot)",
		Long: `Print the guest's serial console of the VM's current boot. Each boot has its
own log; the last ` + strconv.Itoa(bootlog.Keep) + ` boots are kept. Control characters from the
guest are shown escaped (\x1b), not sent to the terminal. With -f, keep
printing as the guest writes, and carry on into the next boot when the VM is
restarted.`,
		Example: `  banger vm logs calm-otter
  banger vm logs -f calm-otter
  banger vm logs --boot 2 calm-otter
  banger vm logs --vmm calm-otter     # qemu's or Firecracker's own output`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.Flags().Changed("boot") && o.boot < 1 {
				return usagef("--boot %d: boots are numbered from 1", o.boot)
			}
			c, err := e.Client(cmd.Context())
			if err != nil {
				return err
			}
			vm, err := c.GetVM(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			l, err := e.Layout()
			if err != nil {
				return err
			}
			return printVMLogs(cmd.Context(), e.io.Out, l.VM(vm.ID), vm, o)
		},
	}
	cmd.Flags().BoolVarP(&o.follow, "follow", "f", false, "keep printing new output until interrupted")
	cmd.Flags().IntVar(&o.boot, "boot", 0, "print boot N (see the list when N has no log)")
	cmd.Flags().BoolVar(&o.vmm, "vmm", false, "print the VMM's own output instead of the console")
	return cmd
}

// logFile is the file of one boot's stream: the console, or the VMM's own
// output. Under Firecracker the console is inside the VMM's stream.
func logFile(dir paths.VMDir, vm api.VM, boot int, vmmOut bool) string {
	files := bootlog.Files(dir, vm.VMM, boot)
	if len(files) == 0 {
		return ""
	}
	if vmmOut {
		return files[len(files)-1]
	}
	return files[0]
}

func printVMLogs(ctx context.Context, w io.Writer, dir paths.VMDir, vm api.VM, o vmLogsOptions) error {
	boots := bootlog.Boots(dir)
	boot := o.boot
	if boot == 0 {
		if len(boots) == 0 {
			return fmt.Errorf("vm %s has no boot logs yet", vm.Name)
		}
		boot = boots[len(boots)-1]
	}
	file := logFile(dir, vm, boot, o.vmm)
	if file == "" {
		if len(boots) == 0 {
			return fmt.Errorf("vm %s has no boot %d; it has no boot logs yet", vm.Name, boot)
		}
		return fmt.Errorf("vm %s has no boot %d; boots with logs: %s (the last %d are kept)", vm.Name, boot, joinInts(boots), bootlog.Keep)
	}
	for {
		next, err := copyLog(ctx, w, dir, vm, file, boot, o)
		if err != nil || next == 0 {
			return err
		}
		boot = next
		fmt.Fprintf(w, "--- boot %d ---\n", boot)
		file = logFile(dir, vm, boot, o.vmm)
	}
}

// copyLog prints file line by line, escaped. Without follow it stops at
// the end; with follow it waits for more until ctx ends or a later boot
// has a log, whose number it returns.
func copyLog(ctx context.Context, w io.Writer, dir paths.VMDir, vm api.VM, file string, boot int, o vmLogsOptions) (int, error) {
	f, err := os.Open(file)
	if err != nil {
		return 0, fmt.Errorf("open log of boot %d: %w", boot, err)
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 64<<10)
	var partial []byte
	for {
		line, err := r.ReadBytes('\n')
		partial = append(partial, line...)
		if err == nil {
			if _, werr := io.WriteString(w, escapeLogLine(partial)); werr != nil {
				return 0, werr
			}
			partial = partial[:0]
			continue
		}
		if !errors.Is(err, io.EOF) {
			return 0, fmt.Errorf("read log of boot %d: %w", boot, err)
		}
		if !o.follow {
			if len(partial) > 0 {
				io.WriteString(w, escapeLogLine(append(partial, '\n')))
			}
			return 0, nil
		}
		// At the end of what was written so far: wait for more, or for
		// the next boot (this one's file is then complete).
		if cur := bootlog.Current(dir); cur > boot && logFile(dir, vm, cur, o.vmm) != "" {
			if rest, _ := io.ReadAll(r); len(rest) > 0 {
				partial = append(partial, rest...)
			}
			if len(partial) > 0 {
				io.WriteString(w, escapeLogLine(append(partial, '\n')))
			}
			return cur, nil
		}
		if _, err := os.Stat(dir.String()); err != nil {
			return 0, fmt.Errorf("vm %s was deleted", vm.Name)
		}
		select {
		case <-ctx.Done():
			return 0, nil
		case <-time.After(logPoll):
		}
	}
}

// escapeLogLine makes one console line safe for a terminal; the console's
// CRLF line ends become plain newlines.
func escapeLogLine(b []byte) string {
	s := strings.TrimSuffix(string(b), "\n")
	s = strings.TrimSuffix(s, "\r")
	return termtext.Escape(s) + "\n"
}

func joinInts(ns []int) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ", ")
}
