package bootlog

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"banger/internal/execx"
	"banger/internal/paths"
	"banger/internal/vmm"
)

// TestMain doubles as `bangerd logpump` when run with that subcommand.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == Subcommand {
		os.Exit(Main(os.Args[2:]))
	}
	os.Exit(m.Run())
}

func testPump(t *testing.T, max int64) Pump {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return Pump{Argv: []string{exe, Subcommand}, MaxBytes: max}
}

// checkCapped asserts that a log holds exactly the first max bytes of
// want's stream followed by one marker line counting the rest.
func checkCapped(t *testing.T, path string, stream []byte, max int64) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, stream[:max]) {
		t.Fatalf("%s does not start with the first %d bytes written", path, max)
	}
	rest := string(b[max:])
	want := fmt.Sprintf("\n%s %d bytes dropped after this boot's log reached its cap of %d bytes]\n", DropMarker, int64(len(stream))-max, max)
	if rest != want {
		t.Fatalf("after the cap %s holds %q, want %q", path, rest, want)
	}
}

func TestRunCapsEachOutput(t *testing.T) {
	dir := t.TempDir()
	big := bytes.Repeat([]byte("0123456789abcdef\n"), 4000) // 68000 bytes
	small := []byte("short and complete\n")
	pr, pw := io.Pipe()
	go func() {
		// Odd-sized writes so that the cap falls inside a write.
		for b := big; len(b) > 0; {
			n := min(len(b), 999)
			pw.Write(b[:n])
			b = b[n:]
		}
		pw.Close()
	}()
	err := Run([]Output{
		{In: pr, Path: filepath.Join(dir, "a.log")},
		{In: bytes.NewReader(small), Path: filepath.Join(dir, "b.log")},
	}, Options{MaxBytes: 10000})
	if err != nil {
		t.Fatal(err)
	}
	checkCapped(t, filepath.Join(dir, "a.log"), big, 10000)
	if b, _ := os.ReadFile(filepath.Join(dir, "b.log")); !bytes.Equal(b, small) {
		t.Fatalf("uncapped log = %q, want %q (no marker under the cap)", b, small)
	}
	if st, _ := os.Stat(filepath.Join(dir, "a.log")); st.Mode().Perm() != 0o600 {
		t.Errorf("log mode %v, want 0600", st.Mode().Perm())
	}
}

func TestRunRefusesSymlinkedLog(t *testing.T) {
	dir := t.TempDir()
	victim := filepath.Join(dir, "victim")
	os.WriteFile(victim, []byte("keep"), 0o644)
	link := filepath.Join(dir, "console.1.log")
	os.Symlink(victim, link)
	err := Run([]Output{{In: strings.NewReader("guest text"), Path: link}}, Options{})
	if err == nil {
		t.Fatal("pump wrote through a symlink")
	}
	if b, _ := os.ReadFile(victim); string(b) != "keep" {
		t.Fatalf("victim changed: %q", b)
	}
}

// The whole mechanism: a detached writer (standing in for a VMM) produces
// more than the cap through a pipe into a detached pump process; the pump
// exits at the writer's EOF, leaving at most the cap plus the marker.
func TestPumpProcessCapsADetachedWriter(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "console.1.log")
	pipes, err := testPump(t, 64<<10).Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer pipes.Close()
	// 1 MiB of 'y\n', written by a process that is not the pump's parent's
	// concern after this point.
	writer, err := execx.Detached{Argv: []string{"sh", "-c", "yes | head -c 1048576"}, Output: pipes.VMMFiles()[0]}.Start()
	if err != nil {
		t.Fatal(err)
	}
	if err := pipes.Start(nil); err != nil {
		t.Fatal(err)
	}
	<-writer.Done()
	done := make(chan struct{})
	go func() { pipes.Drain(time.Minute); close(done) }()
	select {
	case <-pipes.child.Done():
	case <-time.After(time.Minute):
		t.Fatal("pump did not exit at the writer's EOF")
	}
	<-done
	if err := pipes.child.Err(); err != nil {
		t.Fatalf("pump: %v", err)
	}
	checkCapped(t, out, bytes.Repeat([]byte("y\n"), 1<<19), 64<<10)
}

func TestBeginKeepsTheLastBoots(t *testing.T) {
	dir := paths.VMDir(t.TempDir())
	for _, legacyName := range legacy {
		os.WriteFile(filepath.Join(dir.String(), legacyName), []byte("old"), 0o644)
	}
	os.WriteFile(dir.Overlay(), []byte("disk"), 0o644)
	if Current(dir) != 0 {
		t.Fatalf("Current of an empty dir = %d", Current(dir))
	}
	for want := 1; want <= Keep+3; want++ {
		n, err := Begin(dir)
		if err != nil {
			t.Fatal(err)
		}
		if n != want {
			t.Fatalf("boot %d numbered %d", want, n)
		}
		os.WriteFile(dir.BootLog(Console, n), []byte("boot"), 0o600)
		os.WriteFile(dir.BootLog("qemu", n), []byte("boot"), 0o600)
		if Current(dir) != n {
			t.Fatalf("Current = %d after boot %d", Current(dir), n)
		}
	}
	ents, _ := os.ReadDir(dir.String())
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	var want []string
	for n := 4; n <= Keep+3; n++ {
		want = append(want, fmt.Sprintf("console.%d.log", n), fmt.Sprintf("qemu.%d.log", n))
	}
	want = append(want, "overlay.ext4")
	slices.Sort(want)
	if !slices.Equal(names, want) {
		t.Fatalf("files %v, want %v", names, want)
	}
	if got := Files(dir, "firecracker", Keep+3); len(got) != 1 {
		t.Fatalf("Files for a vmm without a log of this boot: %v", got)
	}
	if got := Files(dir, "qemu", Keep+3); !slices.Equal(got, []string{dir.BootLog(Console, Keep+3), dir.BootLog("qemu", Keep+3)}) {
		t.Fatalf("Files = %v", got)
	}
}

func TestLineWatcher(t *testing.T) {
	for _, c := range []struct {
		in   string
		want bool
	}{
		{"[   12.345678] reboot: Power down\r\n", true},
		{"reboot: Power down\n", true},
		{"systemd-shutdown[1]: Powering off.\r\n[    3.1] reboot: Power down\r\n", true},
		{"reboot: Power down", false}, // no end of line yet
		{"reboot: Restarting system\r\n", false},
		{"echo reboot: Power down\n", false},
		{strings.Repeat("x", 100) + "reboot: Power down\n", false},
		{"reboot: Power downtown\n", false},
	} {
		var w lineWatcher
		got := false
		// Byte at a time: a match must survive any split.
		for i := range len(c.in) {
			got = w.scan([]byte{c.in[i]}) || got
		}
		if got != c.want {
			t.Errorf("%q: %v, want %v", c.in, got, c.want)
		}
	}
}

// startSleeper is a stand-in VMM: a detached process to be ended.
func startSleeper(t *testing.T) (*execx.Child, vmm.Process) {
	t.Helper()
	c, err := execx.Detached{Argv: []string{"sleep", "600"}, LogPath: filepath.Join(t.TempDir(), "log")}.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Kill() })
	p, err := vmm.Identify(c.PID)
	if err != nil {
		t.Fatal(err)
	}
	return c, p
}

func TestPumpEndsOnlyItsVMMOnPowerDown(t *testing.T) {
	dir := t.TempDir()
	target, tp := startSleeper(t)
	bystander, _ := startSleeper(t)
	pipes, err := testPump(t, 0).Open(filepath.Join(dir, "firecracker.1.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer pipes.Close()
	w := pipes.VMMFiles()[0]
	// Keep our own write end so that the pump sees no EOF: only the
	// power-down line may end the target.
	w2, err := dupFile(w)
	if err != nil {
		t.Fatal(err)
	}
	defer w2.Close()
	if err := pipes.Start(&tp); err != nil {
		t.Fatal(err)
	}
	io.WriteString(w2, "[    1.0] systemd-shutdown[1]: Powering off.\r\n[    1.1] reboot: Power down\r\n")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	select {
	case <-target.Done():
	case <-ctx.Done():
		t.Fatal("the power-down line did not end the vmm")
	}
	select {
	case <-bystander.Done():
		t.Fatal("another process was ended")
	default:
	}
}

func TestPumpIgnoresAnotherProcessUnderTheSamePID(t *testing.T) {
	dir := t.TempDir()
	target, tp := startSleeper(t)
	tp.StartTime++ // the process at this pid is not the one the pump was told about
	pipes, err := testPump(t, 0).Open(filepath.Join(dir, "firecracker.1.log"))
	if err != nil {
		t.Fatal(err)
	}
	w2, _ := dupFile(pipes.VMMFiles()[0])
	if err := pipes.Start(&tp); err != nil {
		t.Fatal(err)
	}
	io.WriteString(w2, "reboot: Power down\n")
	w2.Close()
	pipes.Drain(time.Minute)
	select {
	case <-pipes.child.Done():
	default:
		t.Fatal("pump did not exit at EOF")
	}
	select {
	case <-target.Done():
		t.Fatal("a process with another start time was ended")
	default:
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "firecracker.1.log")); string(b) != "reboot: Power down\n" {
		t.Fatalf("log %q", b)
	}
}

func dupFile(f *os.File) (*os.File, error) {
	fd, err := dupCloexec(int(f.Fd()))
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), f.Name()), nil
}

// BenchmarkPumpStart is what the pump adds to a VM start: two pipes and a
// detached pump process (then its exit at EOF, off the start path).
func BenchmarkPumpStart(b *testing.B) {
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	pump := Pump{Argv: []string{exe, Subcommand}}
	dir := b.TempDir()
	for b.Loop() {
		pipes, err := pump.Open(filepath.Join(dir, "qemu.1.log"), filepath.Join(dir, "console.1.log"))
		if err != nil {
			b.Fatal(err)
		}
		if err := pipes.Start(nil); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		pipes.Drain(time.Minute)
		b.StartTimer()
	}
}
