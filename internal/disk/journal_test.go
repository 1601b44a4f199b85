package disk

import (
	"context"
	"path/filepath"
	"testing"

	"banger/internal/guestconfig"
)

// TestWriteFilesReplaysAPendingJournal: an image whose superblock says its
// journal needs recovery (a guest's root overlay, never unmounted) has it
// replayed before debugfs writes, so the next mount's replay cannot undo
// the write.
func TestWriteFilesReplaysAPendingJournal(t *testing.T) {
	requireE2fsprogs(t)
	image := filepath.Join(tempDir(t), "overlay.ext4")
	mkfsFrom(t, image, "", "overlay", 64<<20)
	dfsWrite(t, image, "feature needs_recovery")
	if sb, err := readSuperblock(image); err != nil || sb.incompat&incompatRecover == 0 {
		t.Fatalf("setup: needs_recovery not set: %v", err)
	}
	files := []guestconfig.File{{Path: "/etc", Mode: 0o755, Dir: true}, {Path: "/etc/machine-id", Mode: 0o444, Content: []byte("0123\n")}}
	if err := WriteFiles(context.Background(), image, UpperDir, files); err != nil {
		t.Fatal(err)
	}
	if sb, _ := readSuperblock(image); sb.incompat&incompatRecover != 0 {
		t.Error("journal still needs recovery after WriteFiles")
	}
	if got := cat(t, image, UpperDir+"/etc/machine-id"); got != "0123\n" {
		t.Errorf("machine-id %q", got)
	}
}

// TestWriteFilesChecksAnUncleanImage: an image not marked cleanly
// unmounted (a VMM killed while the guest wrote) is checked before debugfs
// writes: debugfs refuses bitmaps whose checksums the guest left stale.
func TestWriteFilesChecksAnUncleanImage(t *testing.T) {
	requireE2fsprogs(t)
	image := filepath.Join(tempDir(t), "overlay.ext4")
	mkfsFrom(t, image, "", "overlay", 64<<20)
	dfsWrite(t, image, "ssv state 0")
	if sb, err := readSuperblock(image); err != nil || sb.state&stateValid != 0 {
		t.Fatalf("setup: state not unclean: %+v %v", sb, err)
	}
	files := []guestconfig.File{{Path: "/etc", Mode: 0o755, Dir: true}, {Path: "/etc/hostname", Mode: 0o644, Content: []byte("x\n")}}
	if err := WriteFiles(context.Background(), image, UpperDir, files); err != nil {
		t.Fatal(err)
	}
	if sb, _ := readSuperblock(image); sb.state&stateValid == 0 {
		t.Error("the unclean image was not checked before writing (still not marked clean)")
	}
	if got := cat(t, image, UpperDir+"/etc/hostname"); got != "x\n" {
		t.Errorf("hostname %q", got)
	}
}
