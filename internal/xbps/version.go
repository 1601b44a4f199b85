package xbps

import (
	"path"
	"strings"
)

// SplitPkgver splits "foo-bar-1.2.3_4" into "foo-bar" and "1.2.3_4". The
// version is the part after the last '-' and must contain a digit and end
// in "_<revision>", as XBPS requires; ok is false otherwise.
func SplitPkgver(pkgver string) (name, version string, ok bool) {
	i := strings.LastIndexByte(pkgver, '-')
	if i <= 0 || i == len(pkgver)-1 {
		return "", "", false
	}
	version = pkgver[i+1:]
	u := strings.LastIndexByte(version, '_')
	if u < 0 || u == len(version)-1 || strings.Trim(version[u+1:], "0123456789") != "" {
		return "", "", false
	}
	if !strings.ContainsAny(version[:u], "0123456789") {
		return "", "", false
	}
	return pkgver[:i], version, true
}

// PatternName is the package name a dependency pattern refers to:
// "glibc>=2.36_1" → "glibc", "foo-1.0_1" → "foo", "bar-[0-9]*" → "bar",
// "baz" → "baz".
func PatternName(pattern string) string {
	if i := strings.IndexAny(pattern, "><*?[]"); i >= 0 {
		return strings.TrimSuffix(pattern[:i], "-")
	}
	if name, _, ok := SplitPkgver(pattern); ok {
		return name
	}
	return pattern
}

// MatchPattern reports whether pkgver ("foo-1.2_1") satisfies pattern the
// way xbps_pkgpattern_match does: equal strings, a relational version
// constraint ("foo>=1.2_1", "foo>1<2"), or a shell glob ("foo-1.*").
// A bare name ("foo") matches any version of foo.
func MatchPattern(pkgver, pattern string) bool {
	if pkgver == pattern {
		return true
	}
	name, version, ok := SplitPkgver(pkgver)
	if !ok {
		return false
	}
	if !strings.ContainsAny(pattern, "><*?[]") {
		// A bare name: xbps resolves it to the best version available.
		if _, _, isPkgver := SplitPkgver(pattern); !isPkgver {
			return pattern == name
		}
		return false
	}
	if i := strings.IndexAny(pattern, "<>"); i >= 0 {
		if pattern[:i] != name {
			return false
		}
		return matchRelations(version, pattern[i:])
	}
	m, err := path.Match(pattern, pkgver)
	return err == nil && m
}

// matchRelations checks "<op><ver>" optionally followed by "<op><ver>"
// (a lower bound with an upper bound, as dewey_match allows).
func matchRelations(version, rel string) bool {
	op, rest := cutOp(rel)
	if op == "" {
		return false
	}
	if (op == ">" || op == ">=") && strings.ContainsRune(rest, '<') {
		j := strings.IndexByte(rest, '<')
		op2, ver2 := cutOp(rest[j:])
		if op2 == "" || !compareOp(CompareVersions(version, ver2), op2) {
			return false
		}
		rest = rest[:j]
	}
	return compareOp(CompareVersions(version, rest), op)
}

func cutOp(s string) (op, rest string) {
	for _, o := range []string{"<=", ">=", "==", "!=", "<", ">"} {
		if strings.HasPrefix(s, o) {
			return o, s[len(o):]
		}
	}
	return "", s
}

func compareOp(c int, op string) bool {
	switch op {
	case "<":
		return c < 0
	case "<=":
		return c <= 0
	case ">":
		return c > 0
	case ">=":
		return c >= 0
	case "==":
		return c == 0
	case "!=":
		return c != 0
	}
	return false
}

// Version modifiers as XBPS's dewey code ranks them.
const (
	verAlpha = -3
	verBeta  = -2
	verRC    = -1
	verDot   = 0
)

type dewey struct {
	v        []int
	revision int
}

func parseDewey(s string) dewey {
	var d dewey
	for len(s) > 0 {
		c := s[0]
		switch {
		case c >= '0' && c <= '9':
			n, i := 0, 0
			for i < len(s) && s[i] >= '0' && s[i] <= '9' {
				n = n*10 + int(s[i]-'0')
				i++
			}
			d.v = append(d.v, n)
			s = s[i:]
			continue
		case c == '_':
			n, i := 0, 1
			for i < len(s) && s[i] >= '0' && s[i] <= '9' {
				n = n*10 + int(s[i]-'0')
				i++
			}
			d.revision = n
			s = s[i:]
			continue
		}
		matched := false
		for _, m := range []struct {
			s string
			v int
		}{{"alpha", verAlpha}, {"beta", verBeta}, {"pre", verRC}, {"rc", verRC}, {"pl", verDot}, {".", verDot}} {
			if len(s) >= len(m.s) && strings.EqualFold(s[:len(m.s)], m.s) {
				d.v = append(d.v, m.v)
				s = s[len(m.s):]
				matched = true
				break
			}
		}
		if matched {
			continue
		}
		if l := c | 0x20; l >= 'a' && l <= 'z' {
			d.v = append(d.v, verDot, int(l-'a')+1)
		}
		s = s[1:]
	}
	return d
}

// CompareVersions orders two XBPS versions ("1.2.3_1") as xbps_cmpver
// does: -1, 0 or 1.
func CompareVersions(a, b string) int {
	da, db := parseDewey(a), parseDewey(b)
	n := max(len(da.v), len(db.v))
	for i := 0; i < n; i++ {
		x, y := 0, 0
		if i < len(da.v) {
			x = da.v[i]
		}
		if i < len(db.v) {
			y = db.v[i]
		}
		if x != y {
			return sign(x - y)
		}
	}
	return sign(da.revision - db.revision)
}

func sign(n int) int {
	switch {
	case n < 0:
		return -1
	case n > 0:
		return 1
	}
	return 0
}
