package agent

import (
	"reflect"
	"strings"
	"testing"

	"banger/internal/agent/agentproto"
)

type lp = agentproto.ListeningPort

func TestParseSS(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want []lp
		bad  int
	}{
		{
			name: "debian 12 iproute2 6.1, tcp and udp, v4 and v6, forked owners",
			in: `udp UNCONN 0      0            0.0.0.0:5353 0.0.0.0:* users:(("python3",pid=9485,fd=7),("python3",pid=9443,fd=7))  
udp UNCONN 0      0                  *:5354       *:* users:(("python3",pid=9485,fd=8),("python3",pid=9443,fd=8))  
udp UNCONN 0      0               [::]:5355    [::]:* users:(("python3",pid=9485,fd=9),("python3",pid=9443,fd=9))  
tcp LISTEN 0      128          0.0.0.0:2024 0.0.0.0:*                                                              
tcp LISTEN 0      128        127.0.0.1:5432 0.0.0.0:* users:(("python3",pid=9485,fd=5),("python3",pid=9443,fd=5))  
tcp LISTEN 0      128    127.0.0.53%lo:53   0.0.0.0:* users:(("python3",pid=9485,fd=11),("python3",pid=9443,fd=11))
tcp LISTEN 0      128                *:8080       *:* users:(("python3",pid=9485,fd=3),("python3",pid=9443,fd=3))  
tcp LISTEN 0      128             [::]:8081    [::]:* users:(("python3",pid=9485,fd=4),("python3",pid=9443,fd=4))  
tcp LISTEN 0      128            [::1]:6379    [::]:* users:(("python3",pid=9485,fd=6),("python3",pid=9443,fd=6))  
tcp LISTEN 0      5            0.0.0.0:9000 0.0.0.0:* users:(("socat",pid=9489,fd=5))                              
`,
			want: []lp{
				{Proto: "tcp", Address: "127.0.0.53", Interface: "lo", Port: 53, Process: "python3", PID: 9443},
				{Proto: "tcp", Address: "0.0.0.0", Port: 2024},
				{Proto: "tcp", Address: "127.0.0.1", Port: 5432, Process: "python3", PID: 9443},
				{Proto: "tcp", Address: "::1", Port: 6379, Process: "python3", PID: 9443},
				{Proto: "tcp", Address: "*", Port: 8080, Process: "python3", PID: 9443},
				{Proto: "tcp", Address: "::", Port: 8081, Process: "python3", PID: 9443},
				{Proto: "tcp", Address: "0.0.0.0", Port: 9000, Process: "socat", PID: 9489},
				{Proto: "udp", Address: "0.0.0.0", Port: 5353, Process: "python3", PID: 9443},
				{Proto: "udp", Address: "*", Port: 5354, Process: "python3", PID: 9443},
				{Proto: "udp", Address: "::", Port: 5355, Process: "python3", PID: 9443},
			},
		},
		{
			name: "typical dev VM: sshd, resolved, dhcp bound to a device, docker proxy, v6 link-local",
			in: `udp   UNCONN 0      0          127.0.0.54:53        0.0.0.0:*    users:(("systemd-resolve",pid=312,fd=20))
udp   UNCONN 0      0       0.0.0.0%eth0:68        0.0.0.0:*    users:(("dhclient",pid=401,fd=7))
udp   UNCONN 0      0     [fe80::5054:ff:fe12:3456]%eth0:546 [::]:* users:(("systemd-network",pid=298,fd=21))
tcp   LISTEN 0      128           0.0.0.0:22        0.0.0.0:*    users:(("sshd",pid=520,fd=3))
tcp   LISTEN 0      4096          0.0.0.0:3000      0.0.0.0:*    users:(("docker-proxy",pid=1201,fd=4))
tcp   LISTEN 0      128              [::]:22           [::]:*    users:(("sshd",pid=520,fd=4))
tcp   LISTEN 0      511                 *:5173            *:*    users:(("node",pid=2210,fd=24))
`,
			want: []lp{
				{Proto: "tcp", Address: "0.0.0.0", Port: 22, Process: "sshd", PID: 520},
				{Proto: "tcp", Address: "::", Port: 22, Process: "sshd", PID: 520},
				{Proto: "tcp", Address: "0.0.0.0", Port: 3000, Process: "docker-proxy", PID: 1201},
				{Proto: "tcp", Address: "*", Port: 5173, Process: "node", PID: 2210},
				{Proto: "udp", Address: "127.0.0.54", Port: 53, Process: "systemd-resolve", PID: 312},
				{Proto: "udp", Address: "0.0.0.0", Interface: "eth0", Port: 68, Process: "dhclient", PID: 401},
				{Proto: "udp", Address: "fe80::5054:ff:fe12:3456", Interface: "eth0", Port: 546, Process: "systemd-network", PID: 298},
			},
		},
		{
			name: "single protocol output has no Netid column",
			in: `LISTEN 0      128          0.0.0.0:22 0.0.0.0:* users:(("sshd",pid=520,fd=3))
UNCONN 0      0      0.0.0.0:5353 0.0.0.0:* users:(("avahi-daemon",pid=77,fd=12))
`,
			want: []lp{
				{Proto: "tcp", Address: "0.0.0.0", Port: 22, Process: "sshd", PID: 520},
				{Proto: "udp", Address: "0.0.0.0", Port: 5353, Process: "avahi-daemon", PID: 77},
			},
		},
		{
			name: "process names with spaces, quotes and commas; SO_REUSEPORT duplicates",
			in: `tcp LISTEN 0 128 127.0.0.1:6000 0.0.0.0:* users:(("Web Content",pid=42,fd=9))
tcp LISTEN 0 128 127.0.0.1:6001 0.0.0.0:* users:(("a"b,c)",pid=43,fd=9))
tcp LISTEN 0 4096 0.0.0.0:8443 0.0.0.0:* users:(("caddy",pid=88,fd=7))
tcp LISTEN 0 4096 0.0.0.0:8443 0.0.0.0:* users:(("caddy",pid=88,fd=8))
`,
			want: []lp{
				{Proto: "tcp", Address: "127.0.0.1", Port: 6000, Process: "Web Content", PID: 42},
				{Proto: "tcp", Address: "127.0.0.1", Port: 6001, Process: `a"b,c)`, PID: 43},
				{Proto: "tcp", Address: "0.0.0.0", Port: 8443, Process: "caddy", PID: 88},
			},
		},
		{
			name: "garbage and foreign families are skipped, the rest kept",
			in: `tcp LISTEN 0 128 0.0.0.0:22 0.0.0.0:* users:(("sshd",pid=1,fd=3))
Cannot open netlink socket: Protocol not supported
u_str LISTEN 0 4096 /run/systemd/private 12345 * 0 users:(("systemd",pid=1,fd=16))
tcp LISTEN 0 128 0.0.0.0:notaport 0.0.0.0:*
tcp LISTEN x 128 0.0.0.0:1 0.0.0.0:*
tcp LISTEN 0 128 0.0.0.0:70000 0.0.0.0:*
tcp ESTAB 0 0 10.0.0.2:22 10.0.0.1:5000
tcp LISTEN 0 128
`,
			want: []lp{{Proto: "tcp", Address: "0.0.0.0", Port: 22, Process: "sshd", PID: 1}},
			bad:  6,
		},
		{name: "empty output", in: "", want: nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, bad := ParseSS([]byte(tc.in))
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ports:\n got  %+v\n want %+v", got, tc.want)
			}
			if len(bad) != tc.bad {
				t.Errorf("bad lines: got %d %q, want %d", len(bad), bad, tc.bad)
			}
		})
	}
}

func TestReadCmdline(t *testing.T) {
	proc := t.TempDir()
	writeFile(t, proc+"/42/cmdline", "python3\x00-m\x00http.server\x00--bind\x00::\x00")
	writeFile(t, proc+"/43/cmdline", "")
	writeFile(t, proc+"/44/cmdline", strings.Repeat("a", maxCommand+100))
	if got := readCmdline(proc, 42); got != "python3 -m http.server --bind ::" {
		t.Errorf("got %q", got)
	}
	if got := readCmdline(proc, 43); got != "" {
		t.Errorf("kernel thread: got %q", got)
	}
	if got := readCmdline(proc, 44); len(got) != maxCommand {
		t.Errorf("long command: got %d bytes, want %d", len(got), maxCommand)
	}
	if got := readCmdline(proc, 99); got != "" {
		t.Errorf("gone process: got %q", got)
	}
}
