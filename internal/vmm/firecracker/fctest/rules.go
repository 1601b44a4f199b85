package fctest

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
)

// The tables below are hand-derived from firecracker-api-v1.16.1.yaml
// (definitions and paths banger uses); spec_test.go checks them against
// the yaml whenever the file is available. They deliberately do not reuse
// the driver's Go types, so a driver bug cannot hide in a shared type.

type kind int

const (
	kString kind = iota
	kBool
	kUint   // a non-negative integer (the Rust side is unsigned)
	kObject // a nested object (rate limiters); accepted as is
	kArray  // a list (network overrides); its items are checked by the handler
)

func (k kind) String() string {
	return [...]string{"a string", "a boolean", "an unsigned integer", "an object", "a sequence"}[k]
}

type field struct {
	kind kind
	enum []string // allowed values, when the spec lists them
	// foldEnum makes the enum case-insensitive (the logger level).
	foldEnum bool
	min, max int64 // for kUint; max 0 means unbounded
}

// definition is one spec definition: its properties and required ones.
type definition struct {
	name     string
	fields   map[string]field
	required []string
}

var definitions = map[string]definition{
	"BootSource": {
		name: "BootSource",
		fields: map[string]field{
			"boot_args":         {kind: kString},
			"initrd_path":       {kind: kString},
			"kernel_image_path": {kind: kString},
		},
		required: []string{"kernel_image_path"},
	},
	"Drive": {
		name: "Drive",
		fields: map[string]field{
			"drive_id":       {kind: kString},
			"partuuid":       {kind: kString},
			"is_root_device": {kind: kBool},
			"cache_type":     {kind: kString, enum: []string{"Unsafe", "Writeback"}},
			"is_read_only":   {kind: kBool},
			"path_on_host":   {kind: kString},
			"rate_limiter":   {kind: kObject},
			"io_engine":      {kind: kString, enum: []string{"Sync", "Async"}},
			"socket":         {kind: kString},
		},
		required: []string{"drive_id", "is_root_device"},
	},
	"NetworkInterface": {
		name: "NetworkInterface",
		fields: map[string]field{
			"guest_mac":       {kind: kString},
			"host_dev_name":   {kind: kString},
			"iface_id":        {kind: kString},
			"mtu":             {kind: kUint, min: 68, max: 65535},
			"rx_rate_limiter": {kind: kObject},
			"tx_rate_limiter": {kind: kObject},
		},
		required: []string{"host_dev_name", "iface_id"},
	},
	"MachineConfiguration": {
		name: "MachineConfiguration",
		fields: map[string]field{
			"cpu_template":      {kind: kString, enum: []string{"C3", "T2", "T2S", "T2CL", "T2A", "V1N1", "None"}},
			"smt":               {kind: kBool},
			"mem_size_mib":      {kind: kUint},
			"track_dirty_pages": {kind: kBool},
			"vcpu_count":        {kind: kUint, min: 1, max: 32},
			"huge_pages":        {kind: kString, enum: []string{"None", "2M"}},
		},
		required: []string{"mem_size_mib", "vcpu_count"},
	},
	"Vsock": {
		name: "Vsock",
		fields: map[string]field{
			"guest_cid": {kind: kUint, min: 3},
			"uds_path":  {kind: kString},
			"vsock_id":  {kind: kString},
		},
		required: []string{"guest_cid", "uds_path"},
	},
	"Logger": {
		name: "Logger",
		fields: map[string]field{
			"level":           {kind: kString, enum: []string{"Error", "Warning", "Info", "Debug", "Trace", "Off"}, foldEnum: true},
			"log_path":        {kind: kString},
			"show_level":      {kind: kBool},
			"show_log_origin": {kind: kBool},
			"module":          {kind: kString},
		},
	},
	"Vm": {
		name: "Vm",
		fields: map[string]field{
			"state": {kind: kString, enum: []string{"Paused", "Resumed"}},
		},
		required: []string{"state"},
	},
	"SnapshotCreateParams": {
		name: "SnapshotCreateParams",
		fields: map[string]field{
			"mem_file_path": {kind: kString},
			"snapshot_path": {kind: kString},
			"snapshot_type": {kind: kString, enum: []string{"Full", "Diff"}},
		},
		required: []string{"mem_file_path", "snapshot_path"},
	},
	"SnapshotLoadParams": {
		name: "SnapshotLoadParams",
		fields: map[string]field{
			"enable_diff_snapshots": {kind: kBool},
			"track_dirty_pages":     {kind: kBool},
			"mem_file_path":         {kind: kString},
			"mem_backend":           {kind: kObject},
			"snapshot_path":         {kind: kString},
			"resume_vm":             {kind: kBool},
			"network_overrides":     {kind: kArray},
			"vsock_override":        {kind: kObject},
			"clock_realtime":        {kind: kBool},
		},
		required: []string{"snapshot_path"},
	},
	"InstanceActionInfo": {
		name: "InstanceActionInfo",
		fields: map[string]field{
			"action_type": {kind: kString, enum: []string{"FlushMetrics", "InstanceStart", "SendCtrlAltDel"}},
		},
		required: []string{"action_type"},
	},
}

// endpoint is one PUT (or PATCH) path the fake serves. preBoot marks the
// spec's "Pre-boot only." operations, which Firecracker refuses after
// InstanceStart (or a snapshot load); postBoot its "Post-boot only." ones.
type endpoint struct {
	path     string // spec path template, e.g. "/drives/{drive_id}"
	def      string // body definition
	idField  string // for /{id} paths: the body field that must equal the path id
	preBoot  bool
	postBoot bool
	method   string // empty means PUT
}

func (e endpoint) verb() string {
	if e.method == "" {
		return "PUT"
	}
	return e.method
}

var endpoints = []endpoint{
	{path: "/actions", def: "InstanceActionInfo"},
	{path: "/boot-source", def: "BootSource", preBoot: true},
	{path: "/drives/{drive_id}", def: "Drive", idField: "drive_id", preBoot: true},
	{path: "/logger", def: "Logger"},
	{path: "/machine-config", def: "MachineConfiguration", preBoot: true},
	{path: "/network-interfaces/{iface_id}", def: "NetworkInterface", idField: "iface_id", preBoot: true},
	{path: "/vsock", def: "Vsock", preBoot: true},
	{path: "/vm", def: "Vm", method: "PATCH"},
	{path: "/snapshot/create", def: "SnapshotCreateParams", postBoot: true},
	{path: "/snapshot/load", def: "SnapshotLoadParams", preBoot: true},
}

// route finds the endpoint for a request path and the {id} in it.
func route(path string) (endpoint, string, bool) {
	for _, e := range endpoints {
		if e.idField == "" {
			if path == e.path {
				return e, "", true
			}
			continue
		}
		prefix := strings.TrimSuffix(e.path, "{"+e.idField+"}")
		if id, ok := strings.CutPrefix(path, prefix); ok && !strings.Contains(id, "/") {
			return e, id, true
		}
	}
	return endpoint{}, "", false
}

// deserializeFault is Firecracker's wording for a body serde rejects.
func deserializeFault(msg string) string {
	return "An error occurred when deserializing the json body of a request: " + msg + "."
}

// decode checks raw against def the way Firecracker's serde types do
// (deny_unknown_fields, typed fields, required fields) and returns the
// body as a map, or a fault message.
func decode(def definition, dropped map[string]bool, raw []byte) (map[string]any, string) {
	var body map[string]any
	d := json.NewDecoder(strings.NewReader(string(raw)))
	d.UseNumber()
	if err := d.Decode(&body); err != nil || body == nil {
		if err == nil {
			err = fmt.Errorf("invalid type: null, expected struct %s", def.name)
		}
		return nil, deserializeFault(err.Error())
	}
	known := make([]string, 0, len(def.fields))
	for name := range def.fields {
		if !dropped[def.name+"."+name] {
			known = append(known, name)
		}
	}
	slices.Sort(known)
	keys := make([]string, 0, len(body))
	for k := range body {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if !slices.Contains(known, k) {
			return nil, deserializeFault(fmt.Sprintf("unknown field `%s`, expected one of `%s`", k, strings.Join(known, "`, `")))
		}
		if msg := checkValue(k, def.fields[k], body[k]); msg != "" {
			return nil, deserializeFault(msg)
		}
	}
	for _, r := range def.required {
		if _, ok := body[r]; !ok {
			return nil, deserializeFault(fmt.Sprintf("missing field `%s`", r))
		}
	}
	return body, ""
}

func checkValue(name string, f field, v any) string {
	if v == nil {
		// serde maps null to None for optional fields; required fields
		// are not Option and reject it.
		return ""
	}
	switch f.kind {
	case kString:
		s, ok := v.(string)
		if !ok {
			return fmt.Sprintf("invalid type for `%s`: %s, expected %s", name, jsonKind(v), f.kind)
		}
		if len(f.enum) > 0 && !enumHas(f, s) {
			return fmt.Sprintf("unknown variant `%s` for `%s`, expected one of `%s`", s, name, strings.Join(f.enum, "`, `"))
		}
	case kBool:
		if _, ok := v.(bool); !ok {
			return fmt.Sprintf("invalid type for `%s`: %s, expected %s", name, jsonKind(v), f.kind)
		}
	case kUint:
		n, ok := v.(json.Number)
		if !ok {
			return fmt.Sprintf("invalid type for `%s`: %s, expected %s", name, jsonKind(v), f.kind)
		}
		i, err := n.Int64()
		if err != nil || i < 0 || i > math.MaxUint32 {
			return fmt.Sprintf("invalid value for `%s`: %s, expected %s", name, n, f.kind)
		}
	case kObject:
		if _, ok := v.(map[string]any); !ok {
			return fmt.Sprintf("invalid type for `%s`: %s, expected %s", name, jsonKind(v), f.kind)
		}
	case kArray:
		if _, ok := v.([]any); !ok {
			return fmt.Sprintf("invalid type for `%s`: %s, expected %s", name, jsonKind(v), f.kind)
		}
	}
	return ""
}

func enumHas(f field, s string) bool {
	for _, e := range f.enum {
		if s == e || f.foldEnum && strings.EqualFold(s, e) {
			return true
		}
	}
	// Firecracker also accepts "warn" for the logger level.
	return f.foldEnum && strings.EqualFold(s, "warn")
}

func jsonKind(v any) string {
	switch v.(type) {
	case string:
		return "string"
	case bool:
		return "boolean"
	case json.Number:
		return "number"
	case map[string]any:
		return "map"
	case []any:
		return "sequence"
	}
	return "value"
}
