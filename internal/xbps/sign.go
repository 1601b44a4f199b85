package xbps

import (
	"crypto"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"

	"golang.org/x/crypto/ssh"
)

// RepoKey is the signing key a repository index names in its
// index-meta.plist.
type RepoKey struct {
	Key         *rsa.PublicKey
	Fingerprint string // as xbps prints it: MD5 of the key in SSH form, "60:ae:0c:…"
	SignedBy    string // "Void Linux"
}

// Key returns the repository's signing key, or an error when the index is
// unsigned or its key cannot be read.
func (ix *Index) Key() (*RepoKey, error) {
	if ix.Meta == nil {
		return nil, errors.New("the repository is not signed (its index-meta.plist is empty)")
	}
	data, ok := ix.Meta["public-key"].([]byte)
	if !ok {
		return nil, errors.New("the repository's index-meta.plist has no public-key")
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("the repository's public-key is not PEM")
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("the repository's public-key: %w", err)
	}
	rk, ok := pub.(*rsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("the repository's public-key is a %T; xbps signs with RSA", pub)
	}
	sk, err := ssh.NewPublicKey(rk)
	if err != nil {
		return nil, err
	}
	by, _ := ix.Meta["signature-by"].(string)
	return &RepoKey{Key: rk, Fingerprint: ssh.FingerprintLegacyMD5(sk), SignedBy: by}, nil
}

// VerifySignature checks a package's detached signature (<file>.sig2): an
// RSA PKCS#1 v1.5 signature of the package file's sha256, as xbps-rindex
// writes it and xbps checks it.
func (k *RepoKey) VerifySignature(fileSHA256, sig []byte) error {
	if err := rsa.VerifyPKCS1v15(k.Key, crypto.SHA256, fileSHA256, sig); err != nil {
		return fmt.Errorf("signature does not verify with the repository key %s", k.Fingerprint)
	}
	return nil
}
