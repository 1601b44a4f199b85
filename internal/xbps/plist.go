package xbps

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
)

// maxPlistDepth bounds nesting so a hostile plist cannot exhaust the stack.
const maxPlistDepth = 64

// ParsePlist decodes an XML property list as proplib writes it (the format
// of XBPS's index.plist, props.plist and pkgdb): dict → map[string]any,
// array → []any, string → string, integer → int64, true/false → bool,
// data → []byte.
func ParsePlist(data []byte) (any, error) {
	d := xml.NewDecoder(bytes.NewReader(data))
	d.Strict = true
	for {
		tok, err := d.Token()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil, errors.New("plist: no <plist> element")
			}
			return nil, fmt.Errorf("plist: %w", err)
		}
		se, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		if se.Name.Local != "plist" {
			return nil, fmt.Errorf("plist: root element is <%s>, want <plist>", se.Name.Local)
		}
		for {
			tok, err := d.Token()
			if err != nil {
				return nil, fmt.Errorf("plist: %w", err)
			}
			switch t := tok.(type) {
			case xml.StartElement:
				return plistValue(d, t, 0)
			case xml.EndElement:
				return nil, errors.New("plist: empty <plist>")
			}
		}
	}
}

func plistValue(d *xml.Decoder, se xml.StartElement, depth int) (any, error) {
	if depth > maxPlistDepth {
		return nil, errors.New("plist: nested too deeply")
	}
	switch se.Name.Local {
	case "dict":
		m := map[string]any{}
		for {
			tok, err := nextElement(d)
			if err != nil {
				return nil, err
			}
			if tok == nil { // </dict>
				return m, nil
			}
			if tok.Name.Local != "key" {
				return nil, fmt.Errorf("plist: <%s> where a <key> belongs in a <dict>", tok.Name.Local)
			}
			k, err := text(d)
			if err != nil {
				return nil, err
			}
			vt, err := nextElement(d)
			if err != nil {
				return nil, err
			}
			if vt == nil {
				return nil, fmt.Errorf("plist: key %q has no value", k)
			}
			v, err := plistValue(d, *vt, depth+1)
			if err != nil {
				return nil, err
			}
			m[k] = v
		}
	case "array":
		a := []any{}
		for {
			tok, err := nextElement(d)
			if err != nil {
				return nil, err
			}
			if tok == nil {
				return a, nil
			}
			v, err := plistValue(d, *tok, depth+1)
			if err != nil {
				return nil, err
			}
			a = append(a, v)
		}
	case "string":
		return text(d)
	case "integer":
		s, err := text(d)
		if err != nil {
			return nil, err
		}
		s = strings.TrimSpace(s)
		n, err := strconv.ParseInt(s, 0, 64)
		if err != nil {
			u, uerr := strconv.ParseUint(s, 0, 64)
			if uerr != nil {
				return nil, fmt.Errorf("plist: integer %q: %w", s, err)
			}
			n = int64(u)
		}
		return n, nil
	case "true", "false":
		if err := d.Skip(); err != nil {
			return nil, fmt.Errorf("plist: %w", err)
		}
		return se.Name.Local == "true", nil
	case "data":
		s, err := text(d)
		if err != nil {
			return nil, err
		}
		b, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(s), ""))
		if err != nil {
			return nil, fmt.Errorf("plist: <data>: %w", err)
		}
		return b, nil
	}
	return nil, fmt.Errorf("plist: unsupported element <%s>", se.Name.Local)
}

// nextElement returns the next start element, or nil at an end element.
func nextElement(d *xml.Decoder) (*xml.StartElement, error) {
	for {
		tok, err := d.Token()
		if err != nil {
			return nil, fmt.Errorf("plist: %w", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			return &t, nil
		case xml.EndElement:
			return nil, nil
		case xml.CharData:
			if len(bytes.TrimSpace(t)) != 0 {
				return nil, fmt.Errorf("plist: unexpected text %q", truncate(string(t), 40))
			}
		}
	}
}

// text reads character data up to the end of the current element.
func text(d *xml.Decoder) (string, error) {
	var b strings.Builder
	for {
		tok, err := d.Token()
		if err != nil {
			return "", fmt.Errorf("plist: %w", err)
		}
		switch t := tok.(type) {
		case xml.CharData:
			b.Write(t)
		case xml.EndElement:
			return b.String(), nil
		case xml.StartElement:
			return "", fmt.Errorf("plist: <%s> inside a scalar", t.Name.Local)
		}
	}
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// MarshalPlist encodes v (the types ParsePlist returns, plus []string,
// map[string][]string, int and uint64) as an XML property list with sorted
// dictionary keys.
func MarshalPlist(v any) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" +
		"<!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n" +
		"<plist version=\"1.0\">\n")
	if err := marshalValue(&b, v, 0); err != nil {
		return nil, err
	}
	b.WriteString("</plist>\n")
	return b.Bytes(), nil
}

func marshalValue(b *bytes.Buffer, v any, indent int) error {
	pad := strings.Repeat("\t", indent)
	esc := func(s string) string {
		var e bytes.Buffer
		xml.EscapeText(&e, []byte(s))
		return e.String()
	}
	switch t := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b.WriteString(pad + "<dict>\n")
		for _, k := range keys {
			fmt.Fprintf(b, "%s\t<key>%s</key>\n", pad, esc(k))
			if err := marshalValue(b, t[k], indent+1); err != nil {
				return err
			}
		}
		b.WriteString(pad + "</dict>\n")
	case map[string][]string:
		m := make(map[string]any, len(t))
		for k, vs := range t {
			m[k] = vs
		}
		return marshalValue(b, m, indent)
	case []any:
		b.WriteString(pad + "<array>\n")
		for _, e := range t {
			if err := marshalValue(b, e, indent+1); err != nil {
				return err
			}
		}
		b.WriteString(pad + "</array>\n")
	case []string:
		b.WriteString(pad + "<array>\n")
		for _, e := range t {
			fmt.Fprintf(b, "%s\t<string>%s</string>\n", pad, esc(e))
		}
		b.WriteString(pad + "</array>\n")
	case string:
		fmt.Fprintf(b, "%s<string>%s</string>\n", pad, esc(t))
	case int64:
		fmt.Fprintf(b, "%s<integer>%d</integer>\n", pad, t)
	case int:
		fmt.Fprintf(b, "%s<integer>%d</integer>\n", pad, t)
	case uint64:
		fmt.Fprintf(b, "%s<integer>%d</integer>\n", pad, t)
	case bool:
		if t {
			b.WriteString(pad + "<true/>\n")
		} else {
			b.WriteString(pad + "<false/>\n")
		}
	case []byte:
		fmt.Fprintf(b, "%s<data>%s</data>\n", pad, base64.StdEncoding.EncodeToString(t))
	default:
		return fmt.Errorf("plist: cannot encode %T", v)
	}
	return nil
}
