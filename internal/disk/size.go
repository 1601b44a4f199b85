package disk

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// SizeForms describes what ParseSize accepts, for error messages and help.
const SizeForms = "a whole number of bytes, or with a binary suffix K, M, G or T (optionally KiB, MiB, GiB, TiB), e.g. 512M, 16G, 1T"

// ParseSize parses a disk size. A plain number is bytes; the suffixes K, M,
// G and T (case-insensitive, optionally followed by "iB") are powers of
// 1024. Zero, negative, fractional and overflowing sizes are refused.
//
// Note the CLI's --memory takes a plain number as MiB; disk sizes do not.
func ParseSize(s string) (int64, error) {
	in := strings.TrimSpace(s)
	if in == "" {
		return 0, fmt.Errorf("size is empty: want %s", SizeForms)
	}
	if strings.HasPrefix(in, "-") {
		return 0, fmt.Errorf("size %q is negative", s)
	}
	num, unit := in, ""
	if i := strings.IndexFunc(in, func(r rune) bool { return r < '0' || r > '9' }); i >= 0 {
		num, unit = in[:i], strings.TrimSpace(in[i:])
	}
	if strings.HasPrefix(unit, ".") {
		return 0, fmt.Errorf("size %q is fractional: use a smaller unit, e.g. 1536M", s)
	}
	var shift uint
	switch u := strings.ToUpper(unit); strings.TrimSuffix(u, "IB") {
	case "":
		if u != "" { // a bare "iB"
			return 0, fmt.Errorf("size %q has an unknown unit: want %s", s, SizeForms)
		}
	case "K":
		shift = 10
	case "M":
		shift = 20
	case "G":
		shift = 30
	case "T":
		shift = 40
	default:
		return 0, fmt.Errorf("size %q has an unknown unit: want %s", s, SizeForms)
	}
	if num == "" {
		return 0, fmt.Errorf("size %q has no number: want %s", s, SizeForms)
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n > math.MaxInt64>>shift {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	if n == 0 {
		return 0, fmt.Errorf("size %q is zero", s)
	}
	return n << shift, nil
}
