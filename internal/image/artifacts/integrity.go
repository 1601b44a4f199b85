package artifacts

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"strings"
)

// parseIntegrity returns the sha512 digest of an npm "integrity" value,
// which is Subresource Integrity syntax: one or more space-separated
// "<algo>-<base64>" entries. Only sha512 is accepted: it is what the
// registry publishes, and a weaker algorithm next to it must not be
// allowed to stand in for it.
func parseIntegrity(sri string) ([]byte, error) {
	for _, f := range strings.Fields(sri) {
		algo, b64, ok := strings.Cut(f, "-")
		if !ok || algo != "sha512" {
			continue
		}
		// An SRI entry may carry "?options" after the digest.
		b64, _, _ = strings.Cut(b64, "?")
		sum, err := base64.StdEncoding.DecodeString(b64)
		if err != nil || len(sum) != sha512.Size {
			return nil, errors.New("the sha512 entry is not a base64 sha512 digest")
		}
		return sum, nil
	}
	return nil, errors.New("must be SRI sha512-<base64>, as in the registry's dist.integrity")
}

// formatIntegrity is the SRI form of a sha512 digest.
func formatIntegrity(sum []byte) string {
	return "sha512-" + base64.StdEncoding.EncodeToString(sum)
}

// integrityHasher hashes bytes as they are written, for checking a download
// without reading it twice.
type integrityHasher struct{ h hash.Hash }

func newIntegrityHasher() *integrityHasher             { return &integrityHasher{sha512.New()} }
func (i *integrityHasher) Write(p []byte) (int, error) { return i.h.Write(p) }
func (i *integrityHasher) Sum() []byte                 { return i.h.Sum(nil) }

// checkIntegrity compares a digest with the artifact's pin.
func checkIntegrity(a Artifact, from string, sum []byte) error {
	want, err := parseIntegrity(a.Integrity)
	if err != nil {
		return fmt.Errorf("artifact %s: integrity %q: %w", a.Name, a.Integrity, err)
	}
	if !bytes.Equal(want, sum) {
		return &MismatchError{Artifact: a, From: from, Want: a.Integrity, Got: formatIntegrity(sum)}
	}
	return nil
}

// fileIntegrity hashes a file with sha512.
func fileIntegrity(path string) ([]byte, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	h := newIntegrityHasher()
	n, err := io.Copy(h, f)
	if err != nil {
		return nil, 0, fmt.Errorf("read %s: %w", path, err)
	}
	return h.Sum(), n, nil
}

// checkSHA256 compares a sha256 digest with a File artifact's pin.
func checkSHA256(a Artifact, from string, sum []byte) error {
	got := hex.EncodeToString(sum)
	if got != a.SHA256 {
		return &MismatchError{Artifact: a, From: from, Want: a.SHA256, Got: got}
	}
	return nil
}

// fileSHA256 hashes a file with sha256.
func fileSHA256(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return h.Sum(nil), nil
}
