package guard

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// ruleset is the part of `nft -j list ruleset <family>` that belongs to
// banger's table of that family.
type ruleset struct {
	maps  map[string][][2]json.RawMessage // map name -> [key, value] pairs
	sets  map[string][]json.RawMessage    // set name -> elements
	rules map[string][]jsonRule           // chain name -> rules in order
}

type jsonRule struct {
	Comment string            `json:"comment"`
	Expr    []json.RawMessage `json:"expr"`
}

// listRuleset reads the kernel's rules of one family. Listing the whole
// family (rather than `list table`) succeeds when banger's table does not
// exist yet; other tables in it are skipped unread.
func (g *Guard) listRuleset(ctx context.Context, family string) (ruleset, error) {
	out, err := g.run.Run(ctx, nil, "-j", "list", "ruleset", family)
	if err != nil {
		return ruleset{}, fmt.Errorf("list nftables rules: %w", err)
	}
	return parseRuleset(out, family)
}

func parseRuleset(out []byte, family string) (ruleset, error) {
	rs := ruleset{maps: map[string][][2]json.RawMessage{}, sets: map[string][]json.RawMessage{}, rules: map[string][]jsonRule{}}
	if len(strings.TrimSpace(string(out))) == 0 {
		return rs, nil
	}
	var doc struct {
		Nftables []map[string]json.RawMessage `json:"nftables"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		return rs, fmt.Errorf("parse nft json: %w", err)
	}
	type owner struct {
		Family string `json:"family"`
		Table  string `json:"table"`
		Name   string `json:"name"`
		Chain  string `json:"chain"`
	}
	for _, obj := range doc.Nftables {
		if raw, ok := obj["map"]; ok {
			var m struct {
				owner
				Elem []json.RawMessage `json:"elem"`
			}
			if err := json.Unmarshal(raw, &m); err != nil {
				return rs, fmt.Errorf("parse nft map: %w", err)
			}
			if m.Family != family || m.Table != tableName {
				continue
			}
			for _, e := range m.Elem {
				var pair [2]json.RawMessage
				if err := json.Unmarshal(e, &pair); err != nil {
					return rs, fmt.Errorf("parse element of map %s: %w", m.Name, err)
				}
				rs.maps[m.Name] = append(rs.maps[m.Name], pair)
			}
		}
		if raw, ok := obj["set"]; ok {
			var m struct {
				owner
				Elem []json.RawMessage `json:"elem"`
			}
			if err := json.Unmarshal(raw, &m); err != nil {
				return rs, fmt.Errorf("parse nft set: %w", err)
			}
			if m.Family == family && m.Table == tableName {
				rs.sets[m.Name] = append(rs.sets[m.Name], m.Elem...)
			}
		}
		if raw, ok := obj["rule"]; ok {
			var r struct {
				owner
				jsonRule
			}
			if err := json.Unmarshal(raw, &r); err != nil {
				return rs, fmt.Errorf("parse nft rule: %w", err)
			}
			if r.Family != family || r.Table != tableName {
				continue
			}
			rs.rules[r.Chain] = append(rs.rules[r.Chain], r.jsonRule)
		}
	}
	return rs, nil
}

// jumps returns the keys of a name -> jump map with the chain each jumps to.
func (rs ruleset) jumps(mapName string) (map[string]string, error) {
	out := map[string]string{}
	for _, pair := range rs.maps[mapName] {
		var key string
		var val struct {
			Jump struct {
				Target string `json:"target"`
			} `json:"jump"`
		}
		if err := json.Unmarshal(pair[0], &key); err != nil {
			return nil, fmt.Errorf("map %s: key %s is not a name", mapName, pair[0])
		}
		if err := json.Unmarshal(pair[1], &val); err != nil || val.Jump.Target == "" {
			return nil, fmt.Errorf("map %s: element %q is not a jump", mapName, key)
		}
		out[key] = val.Jump.Target
	}
	return out, nil
}

// match is one `left op right` expression with a payload on the left.
type match struct {
	Protocol, Field, Op string
	Right               json.RawMessage
}

func (r jsonRule) matches() []match {
	var out []match
	for _, e := range r.Expr {
		var x struct {
			Match *struct {
				Op   string `json:"op"`
				Left struct {
					Payload *struct {
						Protocol string `json:"protocol"`
						Field    string `json:"field"`
					} `json:"payload"`
				} `json:"left"`
				Right json.RawMessage `json:"right"`
			} `json:"match"`
		}
		if json.Unmarshal(e, &x) != nil || x.Match == nil || x.Match.Left.Payload == nil {
			continue
		}
		p := x.Match.Left.Payload
		out = append(out, match{Protocol: p.Protocol, Field: p.Field, Op: x.Match.Op, Right: x.Match.Right})
	}
	return out
}

// bindings rebuilds each binding from its installed rules: the MAC from
// the `ether saddr !=` rule (which carries the tag), the IP from the
// `ip saddr` rule. A chain that lacks either was not written by Bind.
func (rs ruleset) bindings() ([]Binding, error) {
	jumps, err := rs.jumps(tapMap)
	if err != nil {
		return nil, err
	}
	var out []Binding
	for tap, chain := range jumps {
		b := Binding{TAP: tap}
		if chain != tapChainPre+tap {
			return nil, fmt.Errorf("tap %s jumps to chain %s, not %s", tap, chain, tapChainPre+tap)
		}
		for _, r := range rs.rules[chain] {
			for _, m := range r.matches() {
				var s string
				if json.Unmarshal(m.Right, &s) != nil {
					continue
				}
				switch {
				case m.Protocol == "ether" && m.Field == "saddr" && m.Op == "!=":
					mac, err := net.ParseMAC(s)
					if err != nil {
						return nil, fmt.Errorf("tap %s: mac %q: %w", tap, s, err)
					}
					b.MAC, b.Tag = mac, r.Comment
				case m.Protocol == "ip" && m.Field == "saddr" && m.Op == "==":
					ip, err := netip.ParseAddr(s)
					if err != nil {
						return nil, fmt.Errorf("tap %s: ip %q: %w", tap, s, err)
					}
					b.IP = ip
				}
			}
		}
		if b.MAC == nil || !b.IP.IsValid() {
			return nil, fmt.Errorf("tap %s: chain %s does not hold a binding's rules", tap, chain)
		}
		out = append(out, b)
	}
	return out, nil
}

// hostBlocks rebuilds each bridge's block from its `ip saddr` rule.
func (rs ruleset) hostBlocks() ([]HostBlock, error) {
	jumps, err := rs.jumps(hostMap)
	if err != nil {
		return nil, err
	}
	var out []HostBlock
	for bridge, chain := range jumps {
		h := HostBlock{Bridge: bridge}
		for _, r := range rs.rules[chain] {
			for _, m := range r.matches() {
				if m.Protocol != "ip" || m.Field != "saddr" || m.Op != "==" {
					continue
				}
				var p struct {
					Prefix struct {
						Addr string `json:"addr"`
						Len  int    `json:"len"`
					} `json:"prefix"`
				}
				var single string
				switch {
				case json.Unmarshal(m.Right, &p) == nil && p.Prefix.Addr != "":
					single = fmt.Sprintf("%s/%d", p.Prefix.Addr, p.Prefix.Len)
				case json.Unmarshal(m.Right, &single) == nil:
					single += "/32"
				}
				pfx, err := netip.ParsePrefix(single)
				if err != nil {
					return nil, fmt.Errorf("bridge %s: subnet %s: %w", bridge, m.Right, err)
				}
				h.Subnet = pfx
			}
		}
		if !h.Subnet.IsValid() {
			return nil, fmt.Errorf("bridge %s: chain %s does not hold a host block", bridge, chain)
		}
		out = append(out, h)
	}
	return out, nil
}
