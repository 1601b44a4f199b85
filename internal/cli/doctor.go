package cli

import (
	"context"
	"fmt"
	"os"
	"os/user"

	"github.com/spf13/cobra"

	"banger/internal/doctor"
	"banger/internal/paths"
	"banger/internal/privileged"
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
	username := "USER"
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
	}
	checks = append(checks, doctor.BundleCheck(runtimeDir, source))
	checks = append(checks, doctor.ToolChecks(doctor.CoreTools)...)
	checks = append(checks, doctor.VMMToolCheck(cfg.FirecrackerBin))
	checks = append(checks, doctor.DeviceChecks()...)
	checks = append(checks, doctor.SudoCheck(func(ctx context.Context) error {
		return privileged.CheckSudo(ctx, daemonExe)
	}, privileged.SudoersLine(username, daemonExe)))
	checks = append(checks, vmmCheck(cfg, l, runtimeDir), natCheck(), dnsRoutingCheck(cfg))
	return doctor.Run(ctx, checks), nil
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
				fmt.Fprintf(e.io.Out, "         fix: %s\n", r.Fix)
			}
		}
	}
	fmt.Fprintf(e.io.Out, "\n%d passed, %d warnings, %d failed\n", counts[doctor.Pass], counts[doctor.Warn], counts[doctor.Fail])
}
