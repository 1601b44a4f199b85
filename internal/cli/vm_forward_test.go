package cli

import (
	"strings"
	"testing"

	"banger/internal/api"
)

func TestParseForwardSpec(t *testing.T) {
	good := map[string]api.Forward{
		"8080":            {HostPort: 8080, GuestPort: 8080},
		"3000:5173":       {HostPort: 3000, GuestPort: 5173},
		"127.0.0.2:8080":  {HostAddr: "127.0.0.2", HostPort: 8080, GuestPort: 8080},
		"0.0.0.0:80:8080": {HostAddr: "0.0.0.0", HostPort: 80, GuestPort: 8080},
	}
	for in, want := range good {
		if got, err := parseForwardSpec(in); err != nil || got != want {
			t.Errorf("parseForwardSpec(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, in := range []string{"0", "65536", "x", "80:0", "host:80:81", "1:2:3:4", ""} {
		if _, err := parseForwardSpec(in); err == nil || !strings.Contains(err.Error(), "HOSTPORT") {
			t.Errorf("parseForwardSpec(%q) = %v", in, err)
		}
	}
}
