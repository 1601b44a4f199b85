package cli

import (
	"banger/internal/bundle"
	"context"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"banger/internal/config"
	"banger/internal/doctor"
	"banger/internal/paths"
	"banger/internal/privileged"
	"banger/internal/version"
)

func newDoctorCmd(e *env) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Check that this host can run banger VMs (pass/warn/fail with fixes)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			results, err := runDoctor(cmd.Context(), e)
			if err != nil {
				return err
			}
			if asJSON {
				if err := printJSON(e.io.Out, results); err != nil {
					return err
				}
			} else {
				printDoctor(e, results)
			}
			if doctor.Failed(results) {
				return exitError{code: ExitFailure}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func runDoctor(ctx context.Context, e *env) ([]doctor.Result, error) {
	l, err := e.Layout()
	if err != nil {
		return nil, err
	}
	cfgCheck := doctor.Func{CheckName: "config", CheckGroup: "daemon", Fn: func(context.Context) (doctor.Status, string, string) {
		if _, err := e.Config(); err != nil {
			return doctor.Fail, err.Error(), "fix " + l.ConfigFile()
		}
		return doctor.Pass, l.ConfigFile(), ""
	}}
	cfg, cfgErr := e.Config()
	exe, _ := os.Executable()
	runtimeDir, source := paths.ResolveRuntimeDir(exe, cfg.RuntimeDir)
	daemonExe, derr := daemonBinary()
	if derr != nil {
		daemonExe = "bangerd"
	}
	username := "#" + strconv.Itoa(os.Getuid()) // sudoers accepts #uid for a user without a name
	if u, err := user.Current(); err == nil {
		username = u.Username
	}
	checks := []doctor.Check{cfgCheck, doctor.RuntimeDirCheck(l)}
	if cfgErr == nil {
		c, running := e.ExistingClient(ctx)
		daemonDNS, daemonDNSErr := "", ""
		if running {
			if st, err := c.Status(ctx); err == nil {
				daemonDNS, daemonDNSErr = st.DNSListen, st.DNSError
			}
		}
		checks = append(checks, doctor.DNSListenCheck(cfg.DNSListen, daemonDNS, daemonDNSErr, running))
		a, aerr := config.Allotted(os.Environ())
		checks = append(checks, doctor.AllotmentCheck(cfg.BridgeName, cfg.BridgeCIDR, a, aerr))
	}
	checks = append(checks, doctor.BundleCheck(runtimeDir, source))
	checks = append(checks, doctor.ToolChecks(doctor.CoreTools)...)
	checks = append(checks, doctor.VMMToolCheck(cfg.FirecrackerBin))
	checks = append(checks, doctor.DeviceChecks()...)
	checks = append(checks, helperCheck(ctx, cfg, cfgErr, daemonExe, username))
	checks = append(checks, vmmCheck(cfg, l, runtimeDir), natCheck(), dnsRoutingCheck(cfg))
	checks = append(checks, doctor.ImageBuildChecks(
		[]string{cfg.DefaultBaseRootfs, filepath.Join(runtimeDir, "rootfs.ext4"), filepath.Join(runtimeDir, bundle.RootfsName)},
		l.ArtifactCacheDir(), l.DebCacheDir(), cfg.ArtifactMirror)...)
	return doctor.Run(ctx, checks), nil
}

// helperCheck wires the privileged helper's check to the real helper,
// sudo and sudoers rule.
func helperCheck(ctx context.Context, cfg config.Config, cfgErr error, daemonExe, username string) doctor.Check {
	helper := cfg.HelperPath
	if cfgErr != nil || helper == "" {
		helper = paths.DefaultHelper
	}
	daemonVersion, err := privileged.HelperVersion(ctx, daemonExe)
	if err != nil {
		daemonVersion = version.Version
	}
	return doctor.HelperCheck(doctor.HelperProbe{
		Path:          helper,
		User:          username,
		Source:        daemonExe,
		DaemonVersion: daemonVersion,
		Root:          os.Geteuid() == 0,
		CheckExe:      privileged.CheckExe,
		NotInstalled:  privileged.ErrHelperNotInstalled,
		Version:       privileged.HelperVersion,
		Sudo:          func(ctx context.Context) error { return privileged.CheckSudo(ctx, helper) },
		Rule:          privileged.SudoersRule,
	})
}

func printDoctor(e *env, results []doctor.Result) {
	var groups []string
	byGroup := map[string][]doctor.Result{}
	counts := map[doctor.Status]int{}
	for _, r := range results {
		if _, ok := byGroup[r.Group]; !ok {
			groups = append(groups, r.Group)
		}
		byGroup[r.Group] = append(byGroup[r.Group], r)
		counts[r.Status]++
	}
	for _, g := range groups {
		fmt.Fprintf(e.io.Out, "\n%s\n", g)
		for _, r := range byGroup[g] {
			mark := map[doctor.Status]string{doctor.Pass: "ok  ", doctor.Warn: "warn", doctor.Fail: "FAIL"}[r.Status]
			fmt.Fprintf(e.io.Out, "  [%s] %s: %s\n", mark, r.Name, r.Message)
			if r.Fix != "" && r.Status != doctor.Pass {
				// A multi-line fix (a sudoers rule) is printed as is,
				// indented, so it can be copied line by line.
				fmt.Fprintf(e.io.Out, "         fix: %s\n", strings.ReplaceAll(r.Fix, "\n", "\n              "))
			}
		}
	}
	fmt.Fprintf(e.io.Out, "\n%d passed, %d warnings, %d failed\n", counts[doctor.Pass], counts[doctor.Warn], counts[doctor.Fail])
}
