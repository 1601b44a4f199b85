package agent

import (
	"bufio"
	"bytes"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"banger/internal/agent/agentproto"
)

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	h := agentproto.Health{Version: s.opts.Version}
	var err error
	if h.UptimeSeconds, err = s.uptime(); err != nil {
		s.internalError(w, err)
		return
	}
	if h.Hostname, err = os.Hostname(); err != nil {
		s.internalError(w, fmt.Errorf("hostname: %w", err))
		return
	}
	if b, err := os.ReadFile(filepath.Join(s.opts.ProcRoot, "sys/kernel/random/boot_id")); err == nil {
		h.BootID = strings.TrimSpace(string(b))
	} else {
		s.log.Warn("read boot id", "error", err)
	}
	writeJSON(w, http.StatusOK, h)
}

func (s *Server) handleStats(w http.ResponseWriter, r *http.Request) {
	st := agentproto.Stats{CPUs: runtime.NumCPU(), Disks: []agentproto.Disk{}}
	var err error
	if st.UptimeSeconds, err = s.uptime(); err != nil {
		s.internalError(w, err)
		return
	}
	b, err := os.ReadFile(filepath.Join(s.opts.ProcRoot, "loadavg"))
	if err == nil {
		st.Load, err = parseLoadavg(b)
	}
	if err != nil {
		s.internalError(w, fmt.Errorf("load average: %w", err))
		return
	}
	b, err = os.ReadFile(filepath.Join(s.opts.ProcRoot, "meminfo"))
	if err == nil {
		st.Memory, err = parseMeminfo(b)
	}
	if err != nil {
		s.internalError(w, fmt.Errorf("meminfo: %w", err))
		return
	}
	for _, p := range s.opts.DiskPaths {
		st.Disks = append(st.Disks, diskUsage(p))
	}
	writeJSON(w, http.StatusOK, st)
}

func (s *Server) internalError(w http.ResponseWriter, err error) {
	s.log.Error("agent request failed", "error", err)
	writeError(w, http.StatusInternalServerError, agentproto.CodeInternal, err.Error())
}

func (s *Server) uptime() (float64, error) {
	b, err := os.ReadFile(filepath.Join(s.opts.ProcRoot, "uptime"))
	if err == nil {
		var up float64
		if up, err = parseUptime(b); err == nil {
			return up, nil
		}
	}
	return 0, fmt.Errorf("uptime: %w", err)
}

// parseUptime reads /proc/uptime: "<uptime> <idle>".
func parseUptime(b []byte) (float64, error) {
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0, fmt.Errorf("empty /proc/uptime")
	}
	return strconv.ParseFloat(f[0], 64)
}

// parseLoadavg reads /proc/loadavg: "0.36 0.15 0.06 6/118 8917".
func parseLoadavg(b []byte) (agentproto.Load, error) {
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return agentproto.Load{}, fmt.Errorf("malformed loadavg %q", b)
	}
	var v [3]float64
	for i := range v {
		x, err := strconv.ParseFloat(f[i], 64)
		if err != nil {
			return agentproto.Load{}, fmt.Errorf("malformed loadavg %q", b)
		}
		v[i] = x
	}
	return agentproto.Load{One: v[0], Five: v[1], Fifteen: v[2]}, nil
}

// parseMeminfo reads MemTotal and MemAvailable (kB) from /proc/meminfo.
func parseMeminfo(b []byte) (agentproto.Memory, error) {
	var m agentproto.Memory
	var haveTotal, haveAvail bool
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok || (key != "MemTotal" && key != "MemAvailable") {
			continue
		}
		f := strings.Fields(val)
		if len(f) == 0 {
			return m, fmt.Errorf("malformed %s line %q", key, sc.Text())
		}
		n, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil {
			return m, fmt.Errorf("malformed %s line %q", key, sc.Text())
		}
		if len(f) > 1 && f[1] == "kB" {
			n *= 1024
		}
		if key == "MemTotal" {
			m.TotalBytes, haveTotal = n, true
		} else {
			m.AvailableBytes, haveAvail = n, true
		}
	}
	if !haveTotal || !haveAvail {
		return m, fmt.Errorf("MemTotal or MemAvailable missing")
	}
	return m, nil
}

func diskUsage(path string) agentproto.Disk {
	d := agentproto.Disk{Path: path}
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		d.Error = fmt.Sprintf("statfs %s: %v", path, err)
		return d
	}
	bs := uint64(st.Frsize)
	if bs == 0 {
		bs = uint64(st.Bsize)
	}
	d.TotalBytes = st.Blocks * bs
	d.FreeBytes = st.Bfree * bs
	d.AvailableBytes = st.Bavail * bs
	return d
}
