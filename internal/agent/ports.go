package agent

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"banger/internal/agent/agentproto"
)

// ssArgv lists TCP and UDP listening sockets, numeric, with their
// processes, without a header line.
var ssArgv = []string{"ss", "-H", "-l", "-t", "-u", "-n", "-p"}

// maxCommand bounds one reported command line.
const maxCommand = 4096

func (s *Server) handlePorts(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	out, err := s.run(ctx, ssArgv...)
	if errors.Is(err, exec.ErrNotFound) {
		writeError(w, http.StatusNotImplemented, agentproto.CodeSSMissing,
			"ss is not installed in the guest (package iproute2); rebuild the image")
		return
	}
	if err != nil {
		s.log.Error("list listening sockets", "error", err)
		writeError(w, http.StatusInternalServerError, agentproto.CodeInternal, "list listening sockets: "+err.Error())
		return
	}
	ports, bad := ParseSS(out)
	for _, line := range bad {
		s.log.Warn("unparsed ss line", "line", line)
	}
	for i := range ports {
		if ports[i].PID > 0 {
			ports[i].Command = readCmdline(s.opts.ProcRoot, ports[i].PID)
		}
	}
	writeJSON(w, http.StatusOK, agentproto.PortsResponse{Ports: ports})
}

// readCmdline returns /proc/<pid>/cmdline with its NUL separators turned
// into spaces, or "" when the process is gone or is a kernel thread.
func readCmdline(procRoot string, pid int) string {
	b, err := os.ReadFile(filepath.Join(procRoot, strconv.Itoa(pid), "cmdline"))
	if err != nil {
		return ""
	}
	b = bytes.TrimRight(b, "\x00")
	if len(b) > maxCommand {
		b = b[:maxCommand]
	}
	return string(bytes.ReplaceAll(b, []byte{0}, []byte{' '}))
}

// ParseSS parses `ss -H -l -t -u -n -p` output (and the single-protocol
// forms without the Netid column) into listening ports, sorted by protocol,
// port and address, one entry per distinct socket owner. Lines it cannot
// read are returned in bad rather than failing the whole answer.
func ParseSS(out []byte) (ports []agentproto.ListeningPort, bad []string) {
	type key struct {
		proto, addr, iface string
		port, pid          int
	}
	seen := map[key]bool{}
	for _, line := range strings.Split(string(out), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		p, err := parseSSLine(line)
		if err != nil {
			bad = append(bad, line)
			continue
		}
		if p.Proto == "" {
			continue // a socket family we did not ask for
		}
		k := key{p.Proto, p.Address, p.Interface, p.Port, p.PID}
		if seen[k] {
			continue // SO_REUSEPORT groups show one line per socket
		}
		seen[k] = true
		ports = append(ports, p)
	}
	slices.SortFunc(ports, func(a, b agentproto.ListeningPort) int {
		return cmp.Or(cmp.Compare(a.Proto, b.Proto), cmp.Compare(a.Port, b.Port),
			cmp.Compare(a.Address, b.Address), cmp.Compare(a.PID, b.PID))
	})
	return ports, bad
}

// parseSSLine reads one line. The process column may contain spaces (a
// process name like "Web Content"), so only the leading columns are split.
func parseSSLine(line string) (agentproto.ListeningPort, error) {
	var p agentproto.ListeningPort
	first, rest := nextField(line)
	switch first {
	case "tcp", "udp":
		p.Proto = first
		first, rest = nextField(rest)
	case "LISTEN", "UNCONN":
	default:
		if strings.ContainsAny(first, "_") || first == "raw" || first == "sctp" {
			return p, nil // u_str, p_raw, …: not ours
		}
		return p, fmt.Errorf("unexpected first column %q", first)
	}
	state := first
	if p.Proto == "" {
		// Single-protocol output has no Netid: the state tells them apart.
		switch state {
		case "LISTEN":
			p.Proto = "tcp"
		case "UNCONN":
			p.Proto = "udp"
		}
	}
	if state != "LISTEN" && state != "UNCONN" {
		return agentproto.ListeningPort{}, fmt.Errorf("unexpected state %q", state)
	}
	var recvQ, sendQ, local, peer string
	recvQ, rest = nextField(rest)
	sendQ, rest = nextField(rest)
	local, rest = nextField(rest)
	peer, rest = nextField(rest)
	if _, err := strconv.Atoi(recvQ); err != nil {
		return agentproto.ListeningPort{}, fmt.Errorf("bad Recv-Q %q", recvQ)
	}
	if _, err := strconv.Atoi(sendQ); err != nil {
		return agentproto.ListeningPort{}, fmt.Errorf("bad Send-Q %q", sendQ)
	}
	if peer == "" {
		return agentproto.ListeningPort{}, errors.New("missing peer column")
	}
	var err error
	if p.Address, p.Interface, p.Port, err = splitLocal(local); err != nil {
		return agentproto.ListeningPort{}, err
	}
	p.Process, p.PID = parseUsers(strings.TrimSpace(rest))
	return p, nil
}

func nextField(s string) (field, rest string) {
	s = strings.TrimLeft(s, " \t")
	i := strings.IndexAny(s, " \t")
	if i < 0 {
		return s, ""
	}
	return s[:i], s[i:]
}

// splitLocal splits "addr[%iface]:port", where addr may be "[v6]" or "*".
func splitLocal(s string) (addr, iface string, port int, err error) {
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return "", "", 0, fmt.Errorf("local address %q has no port", s)
	}
	port, err = strconv.Atoi(s[i+1:])
	if err != nil || port < 0 || port > 65535 {
		return "", "", 0, fmt.Errorf("local address %q: bad port", s)
	}
	addr = s[:i]
	if j := strings.LastIndexByte(addr, '%'); j >= 0 && !strings.Contains(addr[j:], "]") {
		addr, iface = addr[:j], addr[j+1:]
	}
	if strings.HasPrefix(addr, "[") && strings.HasSuffix(addr, "]") {
		addr = addr[1 : len(addr)-1]
	}
	if addr == "" {
		return "", "", 0, fmt.Errorf("local address %q: empty address", s)
	}
	return addr, iface, port, nil
}

// parseUsers reads `users:(("name",pid=1,fd=3),("name",pid=2,fd=3))` and
// returns the owner with the lowest pid (for a forking server, usually the
// parent). It returns zero values when the column is absent.
func parseUsers(s string) (name string, pid int) {
	s, ok := strings.CutPrefix(s, "users:(")
	if !ok {
		return "", 0
	}
	for {
		i := strings.Index(s, `("`)
		if i < 0 {
			return name, pid
		}
		s = s[i+2:]
		// The name is not escaped by ss; `",pid=` ends it.
		j := strings.Index(s, `",pid=`)
		if j < 0 {
			return name, pid
		}
		n := s[:j]
		s = s[j+len(`",pid=`):]
		k := 0
		for k < len(s) && s[k] >= '0' && s[k] <= '9' {
			k++
		}
		p, err := strconv.Atoi(s[:k])
		if err == nil && p > 0 && (pid == 0 || p < pid) {
			name, pid = n, p
		}
		s = s[k:]
	}
}
