package bundle

import (
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"

	"banger/internal/bundle/cpio"
)

// checkInitrd reads the whole initrd: it must be a gzip-compressed newc cpio
// holding an executable /init.
func checkInitrd(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return missing(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return fmt.Errorf("not gzip-compressed: %w", err)
	}
	r := cpio.NewReader(zr)
	hasInit := false
	for {
		h, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("not a readable newc cpio: %w", err)
		}
		if h.Name == "init" && h.IsRegular() && h.Mode&0o111 != 0 {
			hasInit = true
		}
	}
	if _, err := io.Copy(io.Discard, zr); err != nil {
		return fmt.Errorf("corrupt gzip stream: %w", err)
	}
	if !hasInit {
		return errors.New("no executable /init in the archive")
	}
	return nil
}
