package xbps

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
)

// Contents is the metadata of a binary package: its props.plist, its
// files.plist (kept as bytes for the installed package database) and its
// install/remove scripts.
type Contents struct {
	Props     *Package
	FilesList []byte
	Install   []byte // ./INSTALL, nil when the package has none
	Remove    []byte
}

// Entry is one payload entry of a package: Name is a clean path relative
// to the root ("usr/bin/bash"), never absolute and never with "..".
type Entry struct {
	Name   string
	Header *tar.Header
}

// ReadPackage reads a .xbps archive, calling payload for every file,
// directory and link it installs (the reader is the entry's content).
// Metadata entries are returned, not passed to payload.
func ReadPackage(r io.Reader, payload func(Entry, io.Reader) error) (*Contents, error) {
	dr, err := NewDecompressor(r)
	if err != nil {
		return nil, err
	}
	defer dr.Close()
	tr := tar.NewReader(dr)
	c := &Contents{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		switch h.Name {
		case "./props.plist", "./files.plist", "./INSTALL", "./REMOVE":
			b, err := readCapped(tr, maxMetaSize, h.Name[2:])
			if err != nil {
				return nil, err
			}
			switch h.Name {
			case "./props.plist":
				v, err := ParsePlist(b)
				if err != nil {
					return nil, fmt.Errorf("props.plist: %w", err)
				}
				d, ok := v.(map[string]any)
				if !ok {
					return nil, errors.New("props.plist: not a dictionary")
				}
				if c.Props, err = packageFromDict(d); err != nil {
					return nil, fmt.Errorf("props.plist: %w", err)
				}
			case "./files.plist":
				c.FilesList = b
			case "./INSTALL":
				c.Install = b
			case "./REMOVE":
				c.Remove = b
			}
			continue
		}
		name, err := cleanEntryName(h.Name)
		if err != nil {
			return nil, err
		}
		if name == "" { // "./" itself
			continue
		}
		switch h.Typeflag {
		case tar.TypeReg, tar.TypeDir, tar.TypeSymlink, tar.TypeLink:
		default:
			return nil, fmt.Errorf("entry %s: unsupported type %q (only files, directories and links)", h.Name, h.Typeflag)
		}
		if h.Typeflag == tar.TypeLink {
			if h.Linkname, err = cleanEntryName(h.Linkname); err != nil || h.Linkname == "" {
				return nil, fmt.Errorf("entry %s: hard link target %q is outside the package", h.Name, h.Linkname)
			}
		}
		if err := payload(Entry{Name: name, Header: h}, tr); err != nil {
			return nil, err
		}
	}
	if c.Props == nil {
		return nil, errors.New("no props.plist: not an XBPS package")
	}
	if c.FilesList == nil {
		return nil, errors.New("no files.plist: not an XBPS package")
	}
	return c, nil
}

// cleanEntryName turns "./usr/bin/x" into "usr/bin/x", refusing absolute
// paths and "..".
func cleanEntryName(n string) (string, error) {
	if strings.HasPrefix(n, "/") {
		return "", fmt.Errorf("entry %q: absolute path", n)
	}
	for _, part := range strings.Split(n, "/") {
		if part == ".." {
			return "", fmt.Errorf("entry %q: \"..\" in path", n)
		}
	}
	c := path.Clean("/" + n)
	return strings.TrimPrefix(c, "/"), nil
}
