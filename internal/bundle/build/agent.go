package build

import (
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	"banger/internal/execx"
)

// injectAgent installs the agent binary into the rootfs image with debugfs
// (no mount, no root needed beyond write access to the image), root-owned
// and 0755, then reads it back to check.
func injectAgent(ctx context.Context, r *reporter, image, agent, scratch string) error {
	if strings.ContainsAny(agent, "\"\n") {
		return fmt.Errorf("agent path %q: quotes and newlines are not supported", agent)
	}
	dir, name := path.Split(AgentGuestPath)
	script := strings.Join([]string{
		"cd " + dir,
		"rm " + name,
		fmt.Sprintf("write \"%s\" %s", agent, name),
		"sif " + name + " mode 0100755",
		"sif " + name + " uid 0",
		"sif " + name + " gid 0",
		"",
	}, "\n")
	scriptFile := filepath.Join(scratch, "inject-agent.debugfs")
	if err := os.WriteFile(scriptFile, []byte(script), 0o644); err != nil {
		return err
	}
	if _, err := r.run(ctx, execx.Cmd{Argv: []string{tool("debugfs"), "-w", "-f", scriptFile, image}}); err != nil {
		return fmt.Errorf("debugfs write %s: %w", AgentGuestPath, err)
	}
	// debugfs reports most failures on stderr with exit status 0: check.
	back := filepath.Join(scratch, "agent-readback")
	if _, err := r.run(ctx, execx.Cmd{Argv: []string{tool("debugfs"), "-R", "dump " + AgentGuestPath + " " + back, image}}); err != nil {
		return fmt.Errorf("debugfs dump %s: %w", AgentGuestPath, err)
	}
	want, err := hashFile(agent)
	if err != nil {
		return err
	}
	got, err := hashFile(back)
	if err != nil || got != want {
		return fmt.Errorf("%s in %s does not match %s after writing it", AgentGuestPath, filepath.Base(image), agent)
	}
	return nil
}
