package fctest

import (
	"banger/internal/testenv"
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// specName is the pinned Firecracker API spec. It is not part of the
// repository: it sits in ../shared/firecracker/ beside the checkout, or
// wherever BANGER_FIRECRACKER_SPEC names.
const specName = "firecracker-api-v1.16.1.yaml"

// specPath returns where the spec is: BANGER_FIRECRACKER_SPEC when set,
// else ../shared/firecracker/<specName> from the repository root (the
// directory with go.mod above the test's working directory). It returns ""
// and the places it looked when there is no such file.
func specPath() (string, string) {
	if p := os.Getenv("BANGER_FIRECRACKER_SPEC"); p != "" {
		return p, "BANGER_FIRECRACKER_SPEC=" + p
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Sprintf("the working directory (%v)", err)
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			p := filepath.Join(dir, "..", "shared", "firecracker", specName)
			if _, err := os.Stat(p); err != nil {
				return "", p
			}
			return filepath.Clean(p), p
		}
		if filepath.Dir(dir) == dir {
			return "", "a repository root (go.mod) above " + wd
		}
	}
}

// requireSpec returns the spec's path. A missing spec skips the test, and
// fails it under CI=true; a BANGER_FIRECRACKER_SPEC naming a missing file
// always fails it.
func requireSpec(t *testing.T) string {
	t.Helper()
	p, looked := specPath()
	if p != "" {
		return p
	}
	testenv.RequireOrSkip(t, "the Firecracker API spec "+specName+" (looked at "+looked+"; set BANGER_FIRECRACKER_SPEC)", false)
	return ""
}

// specDef is what the test reads from one yaml definition.
type specDef struct {
	required []string
	enum     []string // for string definitions such as CpuTemplate
	props    map[string]*specProp
}

type specProp struct {
	typ      string // "string", "boolean", "integer", "" for $ref
	ref      string
	enum     []string
	min, max string
}

// yamlLines reads the spec, dropping comments and blank lines.
func yamlLines(t *testing.T) []string {
	t.Helper()
	f, err := os.Open(requireSpec(t))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := sc.Text()
		if strings.TrimSpace(l) == "" || strings.HasPrefix(strings.TrimSpace(l), "#") {
			continue
		}
		out = append(out, l)
	}
	return out
}

func indent(l string) int { return len(l) - len(strings.TrimLeft(l, " ")) }

func unquote(s string) string {
	s = strings.TrimSpace(s)
	if u, err := strconv.Unquote(s); err == nil {
		return u
	}
	return s
}

// parseDefinitions reads the "definitions:" section of the spec, which is
// regular enough (2-space indents, block or flow enum lists) for a small
// line-based reader; there is no yaml library in go.mod.
func parseDefinitions(lines []string) map[string]*specDef {
	defs := map[string]*specDef{}
	i := slices.Index(lines, "definitions:")
	if i < 0 {
		return defs
	}
	var cur *specDef
	var prop *specProp
	section := ""
	for _, l := range lines[i+1:] {
		in, text := indent(l), strings.TrimSpace(l)
		item, isItem := strings.CutPrefix(text, "- ")
		switch {
		case in == 0:
			return defs
		case in == 2:
			cur = &specDef{props: map[string]*specProp{}}
			defs[strings.TrimSuffix(text, ":")] = cur
			prop, section = nil, ""
		case cur == nil:
		case in == 4:
			section, prop = strings.TrimSuffix(text, ":"), nil
		case in == 6 && section == "required" && isItem:
			cur.required = append(cur.required, unquote(item))
		case in == 6 && section == "enum" && isItem:
			cur.enum = append(cur.enum, unquote(item))
		case in == 6 && section == "properties":
			prop = &specProp{}
			cur.props[strings.TrimSuffix(text, ":")] = prop
		case in == 8 && prop != nil:
			key, val, _ := strings.Cut(text, ":")
			val = strings.TrimSpace(val)
			switch key {
			case "type":
				prop.typ = unquote(val)
			case "$ref":
				prop.ref = strings.TrimPrefix(unquote(val), "#/definitions/")
			case "minimum":
				prop.min = val
			case "maximum":
				prop.max = val
			case "enum":
				if strings.HasPrefix(val, "[") {
					for _, e := range strings.Split(strings.Trim(val, "[]"), ",") {
						prop.enum = append(prop.enum, unquote(e))
					}
				}
			}
		case in == 10 && prop != nil && isItem:
			prop.enum = append(prop.enum, unquote(item))
		}
	}
	return defs
}

// specOp is one path+method of the spec.
type specOp struct {
	summary string
	bodyRef string // definition of the body parameter
}

// parsePaths reads the "paths:" section: for each path and method, the
// summary and the body's $ref.
func parsePaths(lines []string) map[string]*specOp {
	ops := map[string]*specOp{}
	i := slices.Index(lines, "paths:")
	if i < 0 {
		return ops
	}
	path := ""
	var op *specOp
	inResponses := false
	for _, l := range lines[i+1:] {
		in, text := indent(l), strings.TrimSpace(l)
		switch {
		case in == 0:
			return ops
		case in == 2:
			path, op = strings.TrimSuffix(text, ":"), nil
		case in == 4:
			op = &specOp{}
			ops[strings.ToUpper(strings.TrimSuffix(text, ":"))+" "+path] = op
			inResponses = false
		case op == nil:
		case in == 6 && strings.HasPrefix(text, "summary:"):
			op.summary = strings.TrimSpace(strings.TrimPrefix(text, "summary:"))
		case in == 6 && text == "responses:":
			inResponses = true
		case !inResponses && strings.HasPrefix(text, "$ref:") && op.bodyRef == "":
			op.bodyRef = strings.TrimPrefix(unquote(strings.TrimPrefix(text, "$ref:")), "#/definitions/")
		}
	}
	return ops
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// TestTablesMatchSpec checks the fake's hand-derived field tables against
// the pinned yaml: same fields, same required fields, same types, enums
// and bounds.
func TestTablesMatchSpec(t *testing.T) {
	defs := parseDefinitions(yamlLines(t))
	if len(defs) < 20 {
		t.Fatalf("read only %d definitions from the spec; the reader is broken", len(defs))
	}
	for name, table := range definitions {
		sd, ok := defs[name]
		if !ok {
			t.Errorf("%s: not in the spec", name)
			continue
		}
		var specFields, tableFields []string
		for f := range sd.props {
			specFields = append(specFields, f)
		}
		for f := range table.fields {
			tableFields = append(tableFields, f)
		}
		if !slices.Equal(sorted(specFields), sorted(tableFields)) {
			t.Errorf("%s fields: spec %v, fake %v", name, sorted(specFields), sorted(tableFields))
		}
		if !slices.Equal(sorted(sd.required), sorted(table.required)) {
			t.Errorf("%s required: spec %v, fake %v", name, sorted(sd.required), sorted(table.required))
		}
		for fname, p := range sd.props {
			f, ok := table.fields[fname]
			if !ok {
				continue
			}
			typ, enum := p.typ, p.enum
			if p.ref != "" {
				ref := defs[p.ref]
				if ref == nil {
					t.Errorf("%s.%s: $ref %s not found", name, fname, p.ref)
					continue
				}
				typ, enum = "object", nil
				if len(ref.enum) > 0 {
					typ, enum = "string", ref.enum
				}
			}
			want := map[string]kind{"string": kString, "boolean": kBool, "integer": kUint, "object": kObject, "array": kArray}[typ]
			if f.kind != want {
				t.Errorf("%s.%s: spec type %q, fake %v", name, fname, typ, f.kind)
			}
			if !slices.Equal(enum, f.enum) {
				t.Errorf("%s.%s enum: spec %v, fake %v", name, fname, enum, f.enum)
			}
			if p.min != "" && p.min != strconv.FormatInt(f.min, 10) {
				t.Errorf("%s.%s minimum: spec %s, fake %d", name, fname, p.min, f.min)
			}
			if p.max != "" && p.max != strconv.FormatInt(f.max, 10) {
				t.Errorf("%s.%s maximum: spec %s, fake %d", name, fname, p.max, f.max)
			}
		}
	}
}

// TestEndpointsMatchSpec checks that every endpoint the fake serves is a
// PUT of the spec with the same body definition, and that the fake's
// pre-boot-only rule follows the spec's "Pre-boot only." summaries.
func TestEndpointsMatchSpec(t *testing.T) {
	ops := parsePaths(yamlLines(t))
	if len(ops) < 20 {
		t.Fatalf("read only %d operations from the spec; the reader is broken", len(ops))
	}
	for _, e := range endpoints {
		op, ok := ops[e.verb()+" "+e.path]
		if !ok {
			t.Errorf("%s %s: not in the spec", e.verb(), e.path)
			continue
		}
		if op.bodyRef != e.def {
			t.Errorf("PUT %s body: spec %s, fake %s", e.path, op.bodyRef, e.def)
		}
		if post := strings.Contains(op.summary, "Post-boot only."); post != e.postBoot {
			t.Errorf("PUT %s: spec summary %q, fake postBoot=%v", e.path, op.summary, e.postBoot)
		}
		if pre := strings.Contains(op.summary, "Pre-boot only."); pre != e.preBoot {
			t.Errorf("PUT %s: spec summary %q, fake preBoot=%v", e.path, op.summary, e.preBoot)
		}
	}
	if _, ok := ops["GET /"]; !ok {
		t.Error("GET / is not in the spec")
	}
	info := parseDefinitions(yamlLines(t))["InstanceInfo"]
	if info == nil || !slices.Equal(info.props["state"].enum, []string{"Not started", "Running", "Paused"}) {
		t.Errorf("InstanceInfo.state enum changed: %+v", info)
	}
}

// TestMissingSpecFailsUnderCI runs the spec tests in a child process whose
// working directory is outside any checkout: they skip locally and fail
// under CI=true, and a BANGER_FIRECRACKER_SPEC naming a missing file fails
// them everywhere.
func TestMissingSpecFailsUnderCI(t *testing.T) {
	if os.Getenv("FCTEST_SPEC_CHILD") != "" {
		t.Skip("child process")
	}
	exe, err := filepath.Abs(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, ci, spec string
		fail           bool
		want           string
	}{
		{"local", "", "", false, "skipping: needs the Firecracker API spec"},
		{"CI", "true", "", true, "CI=true and a prerequisite is missing: the Firecracker API spec"},
		{"explicit", "", "/nonexistent/spec.yaml", true, "open /nonexistent/spec.yaml: no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(exe, "-test.run=^TestTablesMatchSpec$", "-test.v")
			cmd.Dir = t.TempDir()
			cmd.Env = append(os.Environ(), "FCTEST_SPEC_CHILD=1", "CI="+tc.ci, "BANGER_FIRECRACKER_SPEC="+tc.spec)
			out, err := cmd.CombinedOutput()
			if failed := err != nil; failed != tc.fail {
				t.Fatalf("child failed=%v (%v), want failed=%v\n%s", failed, err, tc.fail, out)
			}
			if !strings.Contains(string(out), tc.want) {
				t.Fatalf("child output lacks %q:\n%s", tc.want, out)
			}
		})
	}
}
