package store

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func openTest(t *testing.T) *Store {
	t.Helper()
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

var testNet = netip.MustParsePrefix("172.30.0.0/24")

func newVM(id, name string) *VM {
	return &VM{ID: id, Name: name, State: "creating", ImageID: "img", ImageName: "default", VCPUs: 2, MemoryMiB: 1024, DiskSize: 4 << 30, MAC: "02:00:00:00:00:01", VMM: "qemu", Kernel: "/k", Initrd: "/i", Rootfs: "/r", CreatedAt: time.Now()}
}

func TestCreateAllocatesDistinctAddresses(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	a, b := newVM("aaaa1111", "one"), newVM("bbbb2222", "two")
	if err := s.CreateVM(ctx, a, testNet); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateVM(ctx, b, testNet); err != nil {
		t.Fatal(err)
	}
	if a.IP.String() != "172.30.0.2" || b.IP.String() != "172.30.0.3" {
		t.Fatalf("got %s %s", a.IP, b.IP)
	}
	// Deleting frees the address for the next VM.
	if err := s.DeleteVM(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	c := newVM("cccc3333", "three")
	if err := s.CreateVM(ctx, c, testNet); err != nil {
		t.Fatal(err)
	}
	if c.IP.String() != "172.30.0.2" {
		t.Fatalf("freed address not reused: %s", c.IP)
	}
}

func TestConcurrentCreatesNeverShareAnAddress(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := 0; i < 40; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			errs <- s.CreateVM(ctx, newVM(fmt.Sprintf("%016x", i), fmt.Sprintf("vm-%d", i)), testNet)
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	vms, _ := s.ListVMs(ctx)
	seen := map[netip.Addr]bool{}
	for _, v := range vms {
		if seen[v.IP] {
			t.Fatalf("address %s handed out twice", v.IP)
		}
		seen[v.IP] = true
	}
	if len(seen) != 40 {
		t.Fatalf("got %d vms", len(seen))
	}
}

func TestAddressExhaustion(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	small := netip.MustParsePrefix("10.9.0.0/29") // .1 gateway, .2-.6 guests, .7 broadcast
	for i := 0; i < 5; i++ {
		if err := s.CreateVM(ctx, newVM(fmt.Sprintf("%016x", i), fmt.Sprintf("v%d", i)), small); err != nil {
			t.Fatal(err)
		}
	}
	err := s.CreateVM(ctx, newVM("ffff", "last"), small)
	if !errors.Is(err, ErrNoAddress) {
		t.Fatalf("want ErrNoAddress, got %v", err)
	}
}

func TestDuplicateName(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	if err := s.CreateVM(ctx, newVM("a1", "web"), testNet); err != nil {
		t.Fatal(err)
	}
	err := s.CreateVM(ctx, newVM("a2", "web"), testNet)
	if !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), `"web"`) {
		t.Fatalf("want conflict naming web, got %v", err)
	}
}

func TestResolveRefs(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	for _, v := range []*VM{newVM("aa12bb3400000000", "calm-otter"), newVM("aa12cc5600000000", "web"), newVM("dd00000000000000", "aa12")} {
		if err := s.CreateVM(ctx, v, testNet); err != nil {
			t.Fatal(err)
		}
	}
	cases := map[string]string{
		"calm-otter":       "aa12bb3400000000",
		"aa12bb":           "aa12bb3400000000",
		"dd00000000000000": "dd00000000000000",
		"aa12":             "dd00000000000000", // exact name wins over id prefix
	}
	for ref, want := range cases {
		v, err := s.ResolveVM(ctx, ref)
		if err != nil || v.ID != want {
			t.Errorf("ResolveVM(%q) = %v, %v; want %s", ref, v.ID, err, want)
		}
	}
	_, err := s.ResolveVM(ctx, "aa1")
	var amb *AmbiguousError
	if !errors.As(err, &amb) || len(amb.Matches) != 2 || !strings.Contains(err.Error(), "calm-otter (aa12bb3400000000)") {
		t.Fatalf("want ambiguity listing matches, got %v", err)
	}
	if _, err := s.ResolveVM(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("want not found, got %v", err)
	}
}

func TestUpdateVM(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	v := newVM("a1", "web")
	s.CreateVM(ctx, v, testNet)
	got, err := s.UpdateVM(ctx, v.ID, func(v *VM) error { v.State = "running"; v.PID = 42; v.NAT = true; return nil })
	if err != nil || got.State != "running" {
		t.Fatal(err)
	}
	again, _ := s.GetVM(ctx, v.ID)
	if again.PID != 42 || !again.NAT || again.IP != v.IP {
		t.Fatalf("not persisted: %+v", again)
	}
	boom := errors.New("boom")
	if _, err := s.UpdateVM(ctx, v.ID, func(v *VM) error { v.State = "error"; return boom }); !errors.Is(err, boom) {
		t.Fatal(err)
	}
	again, _ = s.GetVM(ctx, v.ID)
	if again.State != "running" {
		t.Fatal("failed update was written")
	}
}

func TestImagesUpsertResolveDelete(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	im := &Image{ID: "i1", Name: "void-exp", Rootfs: "/a.ext4"}
	if err := s.UpsertImage(ctx, im); err != nil {
		t.Fatal(err)
	}
	if got, err := s.ResolveImage(ctx, "void-exp"); err != nil || got.Init != "" {
		t.Fatalf("an image registered without an init: %+v %v", got, err)
	}
	im2 := &Image{ID: "i2", Name: "void-exp", Rootfs: "/b.ext4", WorkSeed: "/b.seed", Init: "runit"}
	if err := s.UpsertImage(ctx, im2); err != nil {
		t.Fatal(err)
	}
	if im2.ID != "i1" {
		t.Fatalf("upsert changed id to %s", im2.ID)
	}
	got, err := s.ResolveImage(ctx, "void-exp")
	if err != nil || got.Rootfs != "/b.ext4" || got.WorkSeed != "/b.seed" || got.Init != "runit" {
		t.Fatalf("%+v %v", got, err)
	}
	if err := s.SetImageInit(ctx, "i1", "systemd"); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.ResolveImage(ctx, "i1"); got.Init != "systemd" || got.Rootfs != "/b.ext4" {
		t.Fatalf("after SetImageInit: %+v", got)
	}
	if err := s.SetImageInit(ctx, "nope", "systemd"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("SetImageInit of a missing image: %v", err)
	}
	v := newVM("v1", "uses")
	v.ImageID = "i1"
	s.CreateVM(ctx, v, testNet)
	if err := s.DeleteImage(ctx, "i1"); !errors.Is(err, ErrConflict) {
		t.Fatalf("delete of used image: %v", err)
	}
	s.DeleteVM(ctx, "v1")
	if err := s.DeleteImage(ctx, "i1"); err != nil {
		t.Fatal(err)
	}
}

func TestReopenKeepsData(t *testing.T) {
	p := filepath.Join(t.TempDir(), "state.db")
	ctx := context.Background()
	s, err := Open(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	s.CreateVM(ctx, newVM("a1", "keep"), testNet)
	s.Close()
	s, err = Open(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.ResolveVM(ctx, "keep"); err != nil {
		t.Fatal(err)
	}
}

func BenchmarkList200(b *testing.B) {
	s, _ := Open(context.Background(), filepath.Join(b.TempDir(), "state.db"))
	defer s.Close()
	ctx := context.Background()
	big := netip.MustParsePrefix("10.10.0.0/16")
	for i := 0; i < 200; i++ {
		s.CreateVM(ctx, newVM(fmt.Sprintf("%016x", i), fmt.Sprintf("vm-%d", i)), big)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := s.ListVMs(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
