package tui

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"banger/internal/api"
	"banger/internal/humanize"
	"banger/internal/termtext"
)

// The panes under the table: details of the selected VM, or its ports.
// Each renders to lines; the view frames them and cuts them to fit.

type pane int

const (
	paneNone pane = iota
	paneDetails
	panePorts
)

// detailsView is the details pane's state for one VM.
type detailsView struct {
	id       string
	name     string
	loading  bool // nothing fetched yet for this VM
	inFlight bool // a fetch is running (first load or refresh)
	vm       *api.VM
	stats    *api.VMStats
	statsErr error
	err      error
}

// portsView is the ports pane's state for one VM.
type portsView struct {
	id      string
	name    string
	loading bool
	ports   []api.Port
	err     error
}

func (d detailsView) lines(st Styles, describe Describe, now time.Time) []string {
	title := st.PaneTitle.Render("details of " + d.name)
	switch {
	case d.loading:
		return []string{title, st.Dim.Render("loading…")}
	case d.err != nil && d.vm == nil:
		return append([]string{title}, errorLines(st, describe, d.err)...)
	}
	v := d.vm
	kv := func(k, val string) string { return st.Label.Render(k) + val }
	state := v.State
	if v.State == api.StateRunning && v.StartedAt != nil {
		state += ", up " + humanize.Duration(now.Sub(*v.StartedAt))
	}
	nat := "off"
	if v.NAT {
		nat = "on"
	}
	out := []string{title,
		kv("id", fmt.Sprintf("%s (image %s, created %s ago)", v.ID, v.Image, humanize.Duration(now.Sub(v.CreatedAt)))),
		kv("state", state),
		kv("address", fmt.Sprintf("%s (%s)  mac %s", v.IP, v.DNSName, v.MAC)),
		kv("size", fmt.Sprintf("%d vCPU, %s memory, %s work disk, NAT %s", v.VCPUs, humanize.MiB(v.MemoryMiB), humanize.Bytes(v.DiskSize), nat)),
	}
	vmm := strings.TrimSpace(v.VMM + " " + v.Accel)
	if v.PID != 0 {
		vmm += fmt.Sprintf(", pid %d", v.PID)
	}
	out = append(out, kv("vmm", vmm))
	if v.LastError != "" {
		out = append(out, kv("last error", st.Error.Render(termtext.Escape(v.LastError))))
	}
	if d.err != nil {
		msg, _ := describe.parts(d.err)
		out = append(out, kv("refresh", st.Error.Render(msg)))
	}
	if s := d.stats; s != nil {
		out = append(out,
			kv("vmm cpu", fmt.Sprintf("%.1f%% (%.1fs), rss %s", s.VMMCPUPercent, s.VMMCPUSeconds, humanize.Bytes(s.VMMRSSBytes))),
			kv("allocated", fmt.Sprintf("overlay %s of %s, work disk %s of %s",
				humanize.Bytes(s.Overlay.UsedBytes), humanize.Bytes(s.Overlay.SizeBytes), humanize.Bytes(s.WorkDisk.UsedBytes), humanize.Bytes(s.WorkDisk.SizeBytes))),
		)
		if g := s.Guest; g != nil {
			out = append(out,
				kv("guest memory", fmt.Sprintf("%s available of %s", humanize.Bytes(g.MemAvailableBytes), humanize.Bytes(g.MemTotalBytes))),
				kv("guest load", fmt.Sprintf("%.2f %.2f %.2f, up %s", g.Load1, g.Load5, g.Load15, humanize.Duration(seconds(g.UptimeSeconds)))),
			)
			for _, fs := range g.Disks {
				out = append(out, kv("guest "+termtext.Escape(fs.Mount), fmt.Sprintf("%s used of %s", humanize.Bytes(fs.UsedBytes), humanize.Bytes(fs.TotalBytes))))
			}
		} else if s.GuestError != "" {
			out = append(out, kv("guest", st.Dim.Render("no figures: "+termtext.Escape(s.GuestError))))
		}
	} else if d.statsErr != nil {
		msg, _ := describe.parts(d.statsErr)
		out = append(out, kv("stats", st.Error.Render(msg)))
	}
	return out
}

func (p portsView) lines(st Styles, describe Describe) []string {
	title := st.PaneTitle.Render("ports of " + p.name)
	switch {
	case p.loading:
		return []string{title, st.Dim.Render("asking the guest agent…")}
	case p.err != nil:
		return append([]string{title}, errorLines(st, describe, p.err)...)
	case len(p.ports) == 0:
		return []string{title, st.Dim.Render("nothing listens on an address reachable from the host")}
	}
	var b strings.Builder
	t := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	// The URL comes before the process, so a narrow terminal cuts the
	// command line, not the link.
	fmt.Fprintln(t, "ENDPOINT\tPROTO\tURL\tPROCESS")
	for _, pt := range p.ports {
		proc := pt.Process
		if pt.Command != "" {
			proc = pt.Command
		}
		if pt.PID != 0 {
			proc = fmt.Sprintf("%s (pid %d)", proc, pt.PID)
		}
		url := pt.URL
		if url == "" {
			url = "-"
		}
		// Process names and command lines are the guest's.
		fmt.Fprintf(t, "%s\t%s\t%s\t%s\n", pt.Endpoint, termtext.Escape(pt.Proto), url, termtext.Escape(proc))
	}
	t.Flush()
	return append([]string{title}, strings.Split(strings.TrimRight(b.String(), "\n"), "\n")...)
}

// errorLines is an error and, when there is one, what to do about it.
func errorLines(st Styles, describe Describe, err error) []string {
	msg, hint := describe.parts(err)
	out := []string{st.Error.Render("error: ") + msg}
	if hint != "" {
		out = append(out, st.Hint.Render("hint: ")+hint)
	}
	return out
}
