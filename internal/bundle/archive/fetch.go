package archive

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"banger/internal/bundle"
)

// ChecksumError is a missing or wrong sha256 in the manifest. Got is the
// archive's actual hash, so a user who trusts the source can fill it in.
type ChecksumError struct {
	Source    string
	Want, Got string
}

func (e *ChecksumError) Error() string {
	if e.Want == "" {
		return fmt.Sprintf("runtime bundle manifest has no sha256 for %s; the archive's sha256 is %s: put it in the manifest's sha256 if you trust this archive", e.Source, e.Got)
	}
	return fmt.Sprintf("runtime bundle archive %s has sha256 %s, the manifest expects %s", e.Source, e.Got, e.Want)
}

// StampName is written into a fetched bundle with the archive's sha256, so
// a later fetch of the same archive can be skipped. Pack leaves it out.
const StampName = ".archive.sha256"

// FetchedSHA256 returns the sha256 of the archive dir was fetched from, or
// "" when it was not fetched (or was modified by a build since).
func FetchedSHA256(dir string) string {
	b, err := os.ReadFile(filepath.Join(dir, StampName))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// FetchOptions describes one fetch.
type FetchOptions struct {
	Source string // path, file:// or http(s):// (see ResolveSource for relative paths)
	SHA256 string // expected hex sha256; empty is a ChecksumError after hashing
	Dest   string // bundle directory to create or replace
	Client *http.Client
	// Check, when set, vets the unpacked bundle before it replaces Dest
	// (e.g. bundle.Verify turned into an error).
	Check func(dir string) error
}

// FetchResult reports a completed fetch.
type FetchResult struct {
	SHA256 string
	Size   int64
	Stats  Stats
}

// Fetch downloads (or opens) the archive, verifies its sha256, unpacks it
// into a staging directory beside Dest and swaps it into place: the old
// Dest is renamed away, the new one renamed in, the old one removed. Any
// failure leaves an existing Dest untouched and removes what Fetch created.
func Fetch(ctx context.Context, o FetchOptions) (*FetchResult, error) {
	if o.Source == "" {
		return nil, errors.New("runtime bundle manifest has an empty url: nothing to fetch")
	}
	dest, err := filepath.Abs(o.Dest)
	if err != nil {
		return nil, fmt.Errorf("runtime bundle destination: %w", err)
	}
	if st, err := os.Lstat(dest); err == nil && !st.IsDir() {
		return nil, fmt.Errorf("runtime bundle destination %s exists and is not a directory", dest)
	}
	parent := filepath.Dir(dest)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return nil, fmt.Errorf("create %s: %w", parent, err)
	}

	archive, cleanup, err := openArchive(ctx, o, parent)
	if err != nil {
		return nil, err
	}
	defer cleanup()

	res := &FetchResult{}
	h := sha256.New()
	if res.Size, err = io.Copy(h, archive); err != nil {
		return nil, fmt.Errorf("read runtime bundle archive %s: %w", o.Source, err)
	}
	res.SHA256 = hex.EncodeToString(h.Sum(nil))
	if o.SHA256 == "" || o.SHA256 != res.SHA256 {
		return nil, &ChecksumError{Source: o.Source, Want: o.SHA256, Got: res.SHA256}
	}
	if _, err := archive.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("read runtime bundle archive %s: %w", o.Source, err)
	}

	staging, err := os.MkdirTemp(parent, "."+filepath.Base(dest)+".staging-")
	if err != nil {
		return nil, fmt.Errorf("create staging directory: %w", err)
	}
	defer os.RemoveAll(staging)
	if res.Stats, err = Unpack(archive, staging); err != nil {
		return nil, fmt.Errorf("unpack runtime bundle %s: %w", o.Source, err)
	}
	root := bundleRoot(staging)
	if err := os.Chmod(root, 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(root, StampName), []byte(res.SHA256+"\n"), 0o644); err != nil {
		return nil, err
	}
	if o.Check != nil {
		if err := o.Check(root); err != nil {
			return nil, fmt.Errorf("runtime bundle from %s is not usable: %w", o.Source, err)
		}
	}
	if err := bundle.Replace(root, dest); err != nil {
		return nil, err
	}
	return res, nil
}

// openArchive returns the archive as a seekable file: the local file
// itself, or a temporary download beside the destination.
func openArchive(ctx context.Context, o FetchOptions, parent string) (*os.File, func(), error) {
	local, err := localPath(o.Source)
	if err != nil {
		return nil, nil, err
	}
	if local != "" {
		f, err := os.Open(local)
		if err != nil {
			return nil, nil, fmt.Errorf("open runtime bundle archive: %w", err)
		}
		return f, func() { f.Close() }, nil
	}
	tmp, err := os.CreateTemp(parent, ".banger-runtime-download-*")
	if err != nil {
		return nil, nil, fmt.Errorf("create download file: %w", err)
	}
	cleanup := func() { tmp.Close(); os.Remove(tmp.Name()) }
	if err := download(ctx, o.Client, o.Source, tmp); err != nil {
		cleanup()
		return nil, nil, err
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		cleanup()
		return nil, nil, err
	}
	return tmp, cleanup, nil
}

func download(ctx context.Context, client *http.Client, src string, w io.Writer) error {
	if client == nil {
		client = http.DefaultClient
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, src, nil)
	if err != nil {
		return fmt.Errorf("download runtime bundle %s: %w", src, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("download runtime bundle: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("download runtime bundle %s: HTTP %s", src, resp.Status)
	}
	n, err := io.Copy(w, resp.Body)
	if err != nil {
		return fmt.Errorf("download runtime bundle %s: %w", src, err)
	}
	if resp.ContentLength >= 0 && n != resp.ContentLength {
		return fmt.Errorf("download runtime bundle %s: got %d of %d bytes", src, n, resp.ContentLength)
	}
	return nil
}

// bundleRoot accepts archives that wrap the bundle in one top-level
// directory (tar -C parent runtime) as well as flat ones.
func bundleRoot(staging string) string {
	if _, err := os.Stat(filepath.Join(staging, bundle.FileName)); err == nil {
		return staging
	}
	ents, err := os.ReadDir(staging)
	if err == nil && len(ents) == 1 && ents[0].IsDir() {
		sub := filepath.Join(staging, ents[0].Name())
		if _, err := os.Stat(filepath.Join(sub, bundle.FileName)); err == nil {
			return sub
		}
	}
	return staging
}
