// Package artifacts owns the third-party files an image build puts into an
// image, pinned by version and hash, and fetching them onto the host before
// the build starts. artifact_mirror is tried before any origin: a mirror
// directory is read in place, before the cache; a mirror URL is tried after
// the cache, so a warm cache never touches the network; the origin (the npm
// registry) comes last, and git artifacts have no origin banger downloads
// from. Every copy is verified against its pin before it is used or cached,
// so the build itself has nothing to download and nothing to trust. It does
// not build images, run in the guest or talk to bangerd.
//
// # Mirror layout
//
// A mirror (the artifact_mirror config key, BANGER_ARTIFACT_MIRROR, or the
// directory `banger image fetch --mirror DIR` fills) is one flat directory,
// local or served over http(s), holding each artifact under its file name:
//
//	npm artifacts  <npm pack name>-<version>.tgz   the registry tarball, unchanged
//	               (scope without "@", "/" as "-": jdxcode-mise-linux-x64-2026.9.15.tgz)
//	git artifacts  <name>-<tag>.bundle             `git bundle create F --all` (or at least the tag)
//	               (tmux-resurrect-v4.0.0.bundle)
//
// FileName gives the name for one artifact; `banger image fetch` prints
// them. The cache (~/.cache/banger/artifacts) uses the same layout, so a
// cache directory is itself a valid mirror.
package artifacts

import (
	"fmt"
	"strings"
)

// Kind is where an artifact comes from and how it is verified.
type Kind string

const (
	// NPM is a package tarball from the npm registry, verified by its
	// registry "integrity" (SRI sha512 of the .tgz).
	NPM Kind = "npm"
	// Git is a git repository at a tag, carried as a git bundle and
	// verified by the commit the tag resolves to after cloning it.
	Git Kind = "git"
	// File is a file downloaded from an origin URL or read from an origin
	// directory, verified by a sha256 its caller knows (the Void rootfs
	// builder takes each package's from the repository index).
	File Kind = "file"
)

// Artifact is one pinned input of an image build.
type Artifact struct {
	Name string // short name: mise, opencode, tmux-resurrect
	Kind Kind

	// NPM
	Package   string // registry name, e.g. @jdxcode/mise-linux-x64
	Version   string // exact version
	Integrity string // SRI from the registry metadata: sha512-<base64>
	Binary    string // path of the executable inside the tarball

	// Git
	Repo   string // upstream URL, named in errors; never fetched by banger
	Tag    string
	Commit string // full commit id the tag must resolve to

	// File
	File   string // file name in a mirror, the cache and the origin
	SHA256 string // lower-case hex
	Origin string // base URL (http, https) or absolute directory holding File
}

// Pinned is what an image build installs. To update a pin:
//
//   - npm: `npm view <package> version dist.integrity dist.tarball`, copy the
//     exact version and integrity here, check Binary with
//     `tar tzf <tarball>`. opencode-linux-x64 is the linux-x64 platform
//     package of opencode-ai: use the version `npm view opencode-ai
//     optionalDependencies` names for it, so both agree.
//   - git: take the tag's commit from upstream (`git ls-remote REPO
//     'refs/tags/TAG^{}'`, or `git -C DIR rev-parse TAG^{commit}` in a
//     clone DIR of a bundle you trust), and put a matching `<name>-<tag>.bundle`
//     in the mirror, because banger never fetches from GitHub.
//
// Update the expected file names in manifest_test.go to match. Then run
// `banger image fetch` to download and verify the new pins; a
// wrong integrity or commit fails there, naming expected and got.
func Pinned() []Artifact {
	return []Artifact{
		{
			Name: "mise", Kind: NPM,
			Package:   "@jdxcode/mise-linux-x64",
			Version:   "2026.9.15",
			Integrity: "sha512-ButPFGyztN0Rk/HOHvHuf+W80CkvQRAjbDWHvhGJc3PnL3e2KhCYZIOyjx8wPkhr9VJa/7sJZXpxtt5JLjsfaQ==",
			Binary:    "package/bin/mise",
		},
		{
			Name: "opencode", Kind: NPM,
			Package:   "opencode-linux-x64",
			Version:   "1.18.33",
			Integrity: "sha512-q/t/3p2CTxOT9y2kvjesb/LZab2+1eqlhhWA02Be6mjTtmYtNBcBsrI5yDo4Fw7ZSPBW2oyMIGMNRqiKQjiAWw==",
			Binary:    "package/bin/opencode",
		},
		{
			Name: "tmux-resurrect", Kind: Git,
			Repo:   "https://github.com/tmux-plugins/tmux-resurrect",
			Tag:    "v4.0.0",
			Commit: "e87d7d592cac97fa38c12395ebec042c154a1844",
		},
		{
			Name: "tmux-continuum", Kind: Git,
			Repo:   "https://github.com/tmux-plugins/tmux-continuum",
			Tag:    "v3.1.0",
			Commit: "46e0e0023476018ddb4cc0d44783eede27e5a8ec",
		},
	}
}

// Lookup returns the pinned artifact called name.
func Lookup(name string) (Artifact, error) {
	var names []string
	for _, a := range Pinned() {
		if a.Name == name {
			return a, nil
		}
		names = append(names, a.Name)
	}
	return Artifact{}, fmt.Errorf("artifact %q: not pinned (pinned: %s)", name, strings.Join(names, ", "))
}

// Pin is the artifact's version as people name it: 2026.9.15 or v4.0.0.
func (a Artifact) Pin() string {
	switch a.Kind {
	case Git:
		return a.Tag
	case File:
		return "sha256:" + a.SHA256
	}
	return a.Version
}

// FileName is the artifact's file name in a mirror and in the cache.
func (a Artifact) FileName() string {
	switch a.Kind {
	case NPM:
		return strings.ReplaceAll(strings.TrimPrefix(a.Package, "@"), "/", "-") + "-" + a.Version + ".tgz"
	case Git:
		return a.Name + "-" + a.Tag + ".bundle"
	case File:
		return a.File
	}
	return ""
}

// String names the artifact in messages: mise 2026.9.15.
func (a Artifact) String() string {
	if a.Kind == File {
		return a.Name
	}
	return a.Name + " " + a.Pin()
}

// Validate checks that the pin is complete and that its names are safe to
// use as file names and URL path segments.
func (a Artifact) Validate() error {
	bad := func(field, val, msg string) error {
		return fmt.Errorf("artifact %q: %s %q: %s", a.Name, field, val, msg)
	}
	if !safeName(a.Name) {
		return bad("name", a.Name, "must be letters, digits, '.', '_' or '-'")
	}
	switch a.Kind {
	case NPM:
		scope, pkg, scoped := strings.Cut(strings.TrimPrefix(a.Package, "@"), "/")
		if !scoped {
			pkg = scope
		}
		if pkg == "" || !safeName(pkg) || (scoped && (!strings.HasPrefix(a.Package, "@") || !safeName(scope))) {
			return bad("package", a.Package, "must be an npm name, NAME or @SCOPE/NAME")
		}
		if !safeName(a.Version) {
			return bad("version", a.Version, "must be an exact version")
		}
		if _, err := parseIntegrity(a.Integrity); err != nil {
			return bad("integrity", a.Integrity, err.Error())
		}
		if a.Binary == "" || strings.HasPrefix(a.Binary, "/") || strings.Contains("/"+a.Binary+"/", "/../") {
			return bad("binary", a.Binary, "must be a relative path inside the tarball")
		}
	case Git:
		if !safeName(a.Tag) {
			return bad("tag", a.Tag, "must be letters, digits, '.', '_' or '-'")
		}
		if len(a.Commit) != 40 || strings.Trim(a.Commit, "0123456789abcdef") != "" {
			return bad("commit", a.Commit, "must be a full 40-character lower-case commit id")
		}
	case File:
		if !safeName(a.File) {
			return bad("file", a.File, "must be letters, digits, '.', '_' or '-'")
		}
		if len(a.SHA256) != 64 || strings.Trim(a.SHA256, "0123456789abcdef") != "" {
			return bad("sha256", a.SHA256, "must be 64 lower-case hex digits")
		}
		if a.Origin != "" && !strings.HasPrefix(a.Origin, "http://") && !strings.HasPrefix(a.Origin, "https://") && !strings.HasPrefix(a.Origin, "/") {
			return bad("origin", a.Origin, "must be an http(s) URL or an absolute directory")
		}
	default:
		return bad("kind", string(a.Kind), "must be npm, git or file")
	}
	return nil
}

func safeName(s string) bool {
	if s == "" || s == "." || s == ".." || strings.HasPrefix(s, "-") {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}
