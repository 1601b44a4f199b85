package aptstate

import (
	"os"
	"strings"
	"testing"
)

func TestSourcesList(t *testing.T) {
	s := SourcesList("trixie", "")
	for _, want := range []string{DefaultMirror + " trixie main", "trixie-updates main", "debian-security trixie-security main"} {
		if !strings.Contains(s, want) {
			t.Errorf("default sources lack %q:\n%s", want, s)
		}
	}
	if s := SourcesList("sid", ""); strings.Contains(s, "security") {
		t.Errorf("sid has no security suite:\n%s", s)
	}
	if s := SourcesList("bookworm", "http://mirror.local/debian"); strings.Count(s, "\n") != 1 || !strings.Contains(s, "http://mirror.local/debian bookworm main") {
		t.Errorf("mirror sources:\n%s", s)
	}
}

func TestOptionsSelectTheState(t *testing.T) {
	d := Dir("/c/apt")
	got := strings.Join(d.Options("/t/var/lib/dpkg/status"), " ")
	for _, want := range []string{"Dir::Etc::SourceList=/c/apt/etc/sources.list", "Dir::State=/c/apt/state",
		"Dir::State::status=/t/var/lib/dpkg/status", "Dir::Cache=/c/apt/cache"} {
		if !strings.Contains(got, want) {
			t.Errorf("options lack %q: %s", want, got)
		}
	}
	dir := Dir(t.TempDir())
	if err := dir.Create(); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{dir.ListsDir() + "/partial", dir.ArchivesDir() + "/partial"} {
		if st, err := os.Stat(p); err != nil || !st.IsDir() {
			t.Errorf("%s: %v", p, err)
		}
	}
}
