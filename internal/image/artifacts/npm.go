package artifacts

import (
	"archive/tar"
	"banger/internal/atomicfile"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
)

// maxSize bounds what is read from any source, so a hostile or broken
// mirror cannot fill the disk. The pinned tarballs are ~60 MiB.
const maxSize = 1 << 30

// originURL is where the registry serves a package's tarball: the same
// path as dist.tarball in its metadata.
func originURL(registry string, a Artifact) string {
	base := path.Base(a.Package) // the name without its scope
	return registry + "/" + a.Package + "/-/" + base + "-" + a.Version + ".tgz"
}

// ExtractBinary copies the artifact's executable (Binary) out of its
// verified tarball to dest with mode 0755, through a temporary file so
// dest is either complete or absent.
func ExtractBinary(a Artifact, tgz, dest string) error {
	if a.Kind != NPM {
		return fmt.Errorf("extract %s: not an npm artifact", a)
	}
	f, err := os.Open(tgz)
	if err != nil {
		return fmt.Errorf("extract %s: %w", a, err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return fmt.Errorf("extract %s from %s: %w", a, tgz, err)
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("extract %s: %s has no %s", a, tgz, a.Binary)
		}
		if err != nil {
			return fmt.Errorf("extract %s from %s: %w", a, tgz, err)
		}
		if path.Clean(h.Name) != path.Clean(a.Binary) {
			continue
		}
		if h.Typeflag != tar.TypeReg || h.Size > maxSize {
			return fmt.Errorf("extract %s: %s in %s is not a regular file", a, a.Binary, tgz)
		}
		return writeAtomic(dest, 0o755, io.LimitReader(tr, h.Size))
	}
}

// writeAtomic writes r to dest atomically; on any failure nothing is left
// behind.
func writeAtomic(dest string, mode os.FileMode, r io.Reader) error {
	return atomicfile.WriteFrom(dest, mode, func(w io.Writer) error {
		_, err := io.Copy(w, r)
		return err
	})
}
