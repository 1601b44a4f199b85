package build

import (
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	"banger/internal/agent"
	"banger/internal/buildlog"
	"banger/internal/execx"
)

// injectAgent installs the agent binary into the rootfs image with debugfs
// (no mount, no root needed beyond write access to the image), root-owned
// and 0755, then reads it back to check.
func injectAgent(ctx context.Context, r *buildlog.Reporter, image, binary, scratch string) error {
	if strings.ContainsAny(binary, "\"\n") {
		return fmt.Errorf("agent binary %q: quotes and newlines are not supported", binary)
	}
	dir, name := path.Split(agent.BinaryPath)
	script := strings.Join([]string{
		"cd " + dir,
		"rm " + name,
		fmt.Sprintf("write \"%s\" %s", binary, name),
		"sif " + name + " mode 0100755",
		"sif " + name + " uid 0",
		"sif " + name + " gid 0",
		"",
	}, "\n")
	scriptFile := filepath.Join(scratch, "inject-agent.debugfs")
	if err := os.WriteFile(scriptFile, []byte(script), 0o644); err != nil {
		return err
	}
	if _, err := r.Run(ctx, execx.Cmd{Argv: []string{tool("debugfs"), "-w", "-f", scriptFile, image}}); err != nil {
		return fmt.Errorf("debugfs write %s: %w", agent.BinaryPath, err)
	}
	// debugfs reports most failures on stderr with exit status 0: check.
	back := filepath.Join(scratch, "agent-readback")
	if _, err := r.Run(ctx, execx.Cmd{Argv: []string{tool("debugfs"), "-R", "dump " + agent.BinaryPath + " " + back, image}}); err != nil {
		return fmt.Errorf("debugfs dump %s: %w", agent.BinaryPath, err)
	}
	want, err := hashFile(binary)
	if err != nil {
		return err
	}
	got, err := hashFile(back)
	if err != nil || got != want {
		return fmt.Errorf("%s in %s does not match %s after writing it", agent.BinaryPath, filepath.Base(image), binary)
	}
	return nil
}
