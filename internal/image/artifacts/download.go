package artifacts

import (
	"banger/internal/atomicfile"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"time"
)

// download streams url into a temporary file in the cache, verifies it
// and renames it to dest. On any failure nothing is left in the cache.
func (f *Fetcher) download(ctx context.Context, a Artifact, url, dest string) (err error) {
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return fmt.Errorf("create artifact cache: %w", err)
	}
	tmp, err := atomicfile.Create(dest, 0o644)
	if err != nil {
		return fmt.Errorf("create artifact cache file: %w", err)
	}
	defer tmp.Abort()
	h := newIntegrityHasher()
	h256 := sha256.New()
	if err = f.get(ctx, url, io.MultiWriter(tmp, h, h256)); err != nil {
		return err
	}
	switch a.Kind {
	case NPM:
		err = checkIntegrity(a, url, h.Sum())
	case File:
		err = checkSHA256(a, url, h256.Sum(nil))
	case Git:
		err = f.verifyGit(ctx, a, tmp.Name(), url)
	}
	if err != nil {
		return err
	}
	return tmp.Commit()
}

// get copies the body of a 200 response to w, refusing more than maxSize.
func (f *Fetcher) get(ctx context.Context, u string, w io.Writer) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := f.client().Do(req)
	if err != nil {
		// The URL is already named by the caller; keep only the cause.
		var ue *url.Error
		if errors.As(err, &ue) {
			return ue.Err
		}
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return fmt.Errorf("%w (HTTP 404)", errNotFound)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP %s", resp.Status)
	}
	n, err := io.Copy(w, io.LimitReader(resp.Body, maxSize+1))
	if err != nil {
		return fmt.Errorf("read body: %w", err)
	}
	if n > maxSize {
		return fmt.Errorf("body larger than %d bytes", int64(maxSize))
	}
	if resp.ContentLength >= 0 && n != resp.ContentLength {
		return fmt.Errorf("got %d of %d bytes", n, resp.ContentLength)
	}
	return nil
}

func (f *Fetcher) client() *http.Client {
	if f.Client != nil {
		return f.Client
	}
	return &http.Client{Transport: &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   30 * time.Second,
		ResponseHeaderTimeout: 60 * time.Second,
	}}
}
