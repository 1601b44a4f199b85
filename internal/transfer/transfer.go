// Package transfer is the host side of `banger vm cp`: it parses the
// command's operands, packs local files into a tar stream for the guest's
// tar, and unpacks the guest's tar stream into the host file system. It
// runs nothing itself; the CLI carries the streams over ssh.
//
// The guest is not trusted: Unpack writes only below its target
// directory, never through a symlink, only under the names the user asked
// for, and drops set-id bits, device nodes and hard links.
package transfer

import (
	"errors"
	"fmt"
	"path"
	"strings"
)

// Operand is one SRC or DST of vm cp.
type Operand struct {
	VM   string // set for VM:PATH
	Path string // "-" for stdin or stdout
}

// Remote reports whether the operand names a path in a VM.
func (o Operand) Remote() bool { return o.VM != "" }

// Stdio reports whether the operand is "-" (stdin as a source, stdout as
// the destination).
func (o Operand) Stdio() bool { return o.VM == "" && o.Path == "-" }

func (o Operand) String() string {
	if o.Remote() {
		return o.VM + ":" + o.Path
	}
	return o.Path
}

// ParseOperand reads VM:PATH (a name or id without a slash before the
// first colon) or a local path; write ./a:b for a local name with a colon.
func ParseOperand(s string) (Operand, error) {
	if s == "" {
		return Operand{}, errors.New("empty path")
	}
	i := strings.IndexByte(s, ':')
	if i <= 0 || strings.Contains(s[:i], "/") {
		if i == 0 {
			return Operand{}, fmt.Errorf("%q has no VM name before the colon: write VM:PATH", s)
		}
		return Operand{Path: s}, nil
	}
	vm, p := s[:i], s[i+1:]
	if p == "" {
		return Operand{}, fmt.Errorf("%q has no path after the colon: write %s:PATH (a relative path is under /root)", s, vm)
	}
	return Operand{VM: vm, Path: p}, nil
}

// Direction of a copy.
type Direction int

const (
	Upload   Direction = iota + 1 // host to VM
	Download                      // VM to host
)

// Plan is a checked vm cp command line.
type Plan struct {
	Dir  Direction
	VM   string // the VM's ref
	Srcs []Operand
	Dst  Operand
}

// ParseArgs checks SRC... DST: a VM path on exactly one side (all sources
// in the same VM), "-" only as the only source or as the destination.
func ParseArgs(args []string) (Plan, error) {
	if len(args) < 2 {
		return Plan{}, fmt.Errorf("vm cp needs a SRC and a DST, got %d argument(s)", len(args))
	}
	var ops []Operand
	for _, a := range args {
		o, err := ParseOperand(a)
		if err != nil {
			return Plan{}, err
		}
		ops = append(ops, o)
	}
	srcs, dst := ops[:len(ops)-1], ops[len(ops)-1]
	remoteSrcs, vm := 0, ""
	for _, s := range srcs {
		if s.Remote() {
			if vm != "" && s.VM != vm {
				return Plan{}, fmt.Errorf("sources are in two VMs (%s and %s): copy from one VM at a time", vm, s.VM)
			}
			vm = s.VM
			remoteSrcs++
		}
		if s.Stdio() && len(srcs) > 1 {
			return Plan{}, errors.New("- (stdin) must be the only source")
		}
	}
	switch {
	case dst.Remote() && remoteSrcs > 0:
		return Plan{}, fmt.Errorf("both sides are VM paths (%s and %s): one side must be a local path", srcs[0], dst)
	case dst.Remote():
		return Plan{Dir: Upload, VM: dst.VM, Srcs: srcs, Dst: dst}, nil
	case remoteSrcs == 0:
		return Plan{}, fmt.Errorf("no VM path among %s: write VM:PATH on one side, e.g. calm-otter:/root/file", strings.Join(args, " "))
	case remoteSrcs != len(srcs):
		return Plan{}, errors.New("some sources are VM paths and some local: copy in one direction at a time")
	}
	if dst.Stdio() && len(srcs) > 1 {
		return Plan{}, errors.New("- (stdout) takes a single source file")
	}
	return Plan{Dir: Download, VM: vm, Srcs: srcs, Dst: dst}, nil
}

// BaseName is the name a source gets in a directory it is copied into. A
// source that names no entry of its own ("/", "dir/.", "..") is refused.
func BaseName(p string) (string, error) {
	t := strings.TrimRight(p, "/")
	b := path.Base(t)
	if t == "" || b == "." || b == ".." || b == "/" {
		return "", fmt.Errorf("%q does not name a file or directory: name one (e.g. /root/project)", p)
	}
	return b, nil
}
