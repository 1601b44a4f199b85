// Package systemd renders the unit file that runs bangerd as a service and
// drives systemctl for `banger daemon enable` and `disable`. It does not
// decide paths (internal/paths does) or talk to bangerd.
package systemd

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"banger/internal/execx"
)

// UnitName is the name of bangerd's unit, user or system.
const UnitName = "bangerd.service"

// Unit describes the bangerd service.
type Unit struct {
	// Exec is the absolute path of bangerd.
	Exec string
	// Env are KEY=VALUE settings the CLI had when the unit was written
	// (XDG directories, BANGER_*), so the service's daemon uses the same
	// socket and state as the one the CLI would start.
	Env []string
	// System is a system unit (root); otherwise a user unit.
	System bool
	// RuntimeDirUID, for a system unit whose XDG_RUNTIME_DIR is
	// /run/user/UID, orders the unit after the service that creates that
	// directory at boot, before anyone logs in.
	RuntimeDirUID string
}

// Render returns the unit file text.
func Render(u Unit) string {
	var b strings.Builder
	b.WriteString("# Written by `banger daemon enable`; `banger daemon disable` removes it.\n")
	b.WriteString("[Unit]\n")
	b.WriteString("Description=banger daemon (bangerd): persistent Linux development VMs\n")
	if u.System {
		b.WriteString("After=network-online.target\nWants=network-online.target\n")
		if u.RuntimeDirUID != "" {
			fmt.Fprintf(&b, "Requires=user-runtime-dir@%s.service\nAfter=user-runtime-dir@%s.service\n", u.RuntimeDirUID, u.RuntimeDirUID)
		}
	}
	b.WriteString("\n[Service]\n")
	b.WriteString("Type=simple\n")
	fmt.Fprintf(&b, "ExecStart=%s\n", quoteExec(u.Exec))
	env := append([]string(nil), u.Env...)
	sort.Strings(env)
	for _, kv := range env {
		fmt.Fprintf(&b, "Environment=%s\n", quoteEnv(kv))
	}
	// VMs outlive bangerd (a stop, a restart, an upgrade): only bangerd
	// itself is stopped, not the VMMs and log pumps it started.
	b.WriteString("KillMode=process\n")
	// A crash (kill -9) restarts bangerd, which re-adopts running VMs;
	// `banger daemon stop` exits cleanly and is not undone.
	b.WriteString("Restart=on-failure\nRestartSec=5\n")
	b.WriteString("\n[Install]\n")
	if u.System {
		b.WriteString("WantedBy=multi-user.target\n")
	} else {
		b.WriteString("WantedBy=default.target\n")
	}
	return b.String()
}

// quoteExec makes a path one ExecStart word: systemd expands % specifiers
// and $ variables there, and splits on whitespace outside quotes.
func quoteExec(p string) string {
	p = strings.ReplaceAll(p, "%", "%%")
	p = strings.ReplaceAll(p, "$", "$$")
	if strings.ContainsAny(p, " \t\"'\\") {
		return `"` + strings.ReplaceAll(strings.ReplaceAll(p, `\`, `\\`), `"`, `\"`) + `"`
	}
	return p
}

// quoteEnv quotes one Environment= assignment.
func quoteEnv(kv string) string {
	kv = strings.ReplaceAll(kv, "%", "%%")
	return `"` + strings.ReplaceAll(strings.ReplaceAll(kv, `\`, `\\`), `"`, `\"`) + `"`
}

// Systemctl runs systemctl for the user's manager or the system's.
func Systemctl(ctx context.Context, system bool, args ...string) (string, error) {
	argv := []string{"systemctl"}
	if !system {
		argv = append(argv, "--user")
	}
	out, err := execx.Run(ctx, append(argv, args...)...)
	return strings.TrimSpace(string(out)), err
}

// Enabled asks systemctl whether the unit is enabled: "enabled",
// "disabled" and so on, or the error when systemctl cannot answer.
func Enabled(ctx context.Context, system bool) (string, error) {
	out, err := Systemctl(ctx, system, "is-enabled", UnitName)
	if out != "" {
		// is-enabled exits non-zero for "disabled" but still answers.
		return out, nil
	}
	return "", err
}
