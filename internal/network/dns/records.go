// Package dns serves banger's authoritative DNS zone "vm.": one A record
// per VM (<name>.vm → guest address) on a loopback UDP and TCP address,
// so links like http://calm-otter.vm:8080/ work on the host once the host
// resolver routes .vm here (see the Recipe functions).
//
// It answers only for vm. (REFUSED for everything else, never recursing),
// keeps no per-query state and bounds its goroutines and connections, so a
// flood costs CPU but not memory. It does not configure the host's resolver.
package dns

import (
	"fmt"
	"net/netip"
	"strings"
	"sync"
)

// Records is the set of A records in the zone, keyed by VM name. It is
// safe for concurrent use; bangerd updates it as VMs are created, renamed,
// started and deleted.
type Records struct {
	mu     sync.RWMutex
	m      map[string]netip.Addr
	serial uint32
}

// NewRecords returns an empty record set.
func NewRecords() *Records { return &Records{m: map[string]netip.Addr{}, serial: 1} }

// Set adds or replaces the A record for name (case-insensitive).
func (r *Records) Set(name string, addr netip.Addr) error {
	name, err := checkRecord(name, addr)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if old, ok := r.m[name]; !ok || old != addr {
		r.m[name] = addr
		r.serial++
	}
	return nil
}

// Delete removes name's record; deleting a missing name is not an error.
func (r *Records) Delete(name string) {
	name = strings.ToLower(name)
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.m[name]; ok {
		delete(r.m, name)
		r.serial++
	}
}

// Replace swaps in a whole new record set (after a daemon restart or a
// reconcile). Nothing changes if any entry is invalid.
func (r *Records) Replace(records map[string]netip.Addr) error {
	m := make(map[string]netip.Addr, len(records))
	for name, addr := range records {
		n, err := checkRecord(name, addr)
		if err != nil {
			return err
		}
		if _, dup := m[n]; dup {
			return fmt.Errorf("dns record %q listed twice (names are case-insensitive)", name)
		}
		m[n] = addr
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.m = m
	r.serial++
	return nil
}

// Lookup returns the address for a lower-case name.
func (r *Records) Lookup(name string) (netip.Addr, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	a, ok := r.m[name]
	return a, ok
}

// Serial is the zone's SOA serial: it changes whenever a record does.
func (r *Records) Serial() uint32 {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.serial
}

// Len returns the number of records.
func (r *Records) Len() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.m)
}

func checkRecord(name string, addr netip.Addr) (string, error) {
	n := strings.ToLower(name)
	if err := checkLabel(n); err != nil {
		return "", err
	}
	if !addr.Is4() {
		return "", fmt.Errorf("dns record %s.vm: address %v is not IPv4", n, addr)
	}
	return n, nil
}

// checkLabel accepts what a VM name may be: a DNS label of lower-case
// letters, digits and inner hyphens.
func checkLabel(n string) error {
	if n == "" || len(n) > 63 {
		return fmt.Errorf("dns record name %q must be 1 to 63 characters", n)
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' && i > 0 && i < len(n)-1) {
			return fmt.Errorf("dns record name %q is not a DNS label (letters, digits, inner '-')", n)
		}
	}
	return nil
}
