package xbps

import (
	"fmt"
	"strings"
)

// Resolve returns the packages to install for the requested patterns with
// all their run-time dependencies, dependencies before their dependants
// (the order xbps unpacks and configures them; it decides, among other
// things, which package's alternatives a group gets first). A dependency
// on a name no package has is satisfied by a package that provides it
// (virtual packages); among several providers one already chosen or
// requested wins, else the first by name.
func (ix *Index) Resolve(requested []string) ([]*Package, error) {
	r := resolver{ix: ix, chosen: map[string]*Package{}, state: map[string]int{}, requested: map[string]bool{}}
	for _, p := range requested {
		r.requested[PatternName(p)] = true
	}
	for _, p := range requested {
		if err := r.visit(p, "packages.void", nil); err != nil {
			return nil, err
		}
	}
	if err := r.checkConflicts(); err != nil {
		return nil, err
	}
	return r.order, nil
}

type resolver struct {
	ix        *Index
	chosen    map[string]*Package
	state     map[string]int // 1 visiting, 2 done
	requested map[string]bool
	order     []*Package
}

func (r *resolver) find(pattern, neededBy string) (*Package, error) {
	name := PatternName(pattern)
	if p, ok := r.ix.Packages[name]; ok {
		if MatchPattern(p.Pkgver, pattern) {
			return p, nil
		}
		// The real package does not match; a provider might (xbps does the
		// same), else it is a version the repository does not have.
		if provs := r.ix.providers(pattern); len(provs) > 0 {
			return r.pickProvider(provs), nil
		}
		return nil, fmt.Errorf("%s needs %q but the repository has %s", neededBy, pattern, p.Pkgver)
	}
	provs := r.ix.providers(pattern)
	if len(provs) == 0 {
		return nil, fmt.Errorf("%s needs %q: no package of that name or providing it is in the repository", neededBy, pattern)
	}
	return r.pickProvider(provs), nil
}

func (r *resolver) pickProvider(provs []*Package) *Package {
	for _, p := range provs {
		if r.chosen[p.Name] != nil {
			return p
		}
	}
	for _, p := range provs {
		if r.requested[p.Name] {
			return p
		}
	}
	return provs[0]
}

func (r *resolver) visit(pattern, neededBy string, path []string) error {
	p, err := r.find(pattern, neededBy)
	if err != nil {
		return err
	}
	switch r.state[p.Name] {
	case 2:
		return nil
	case 1:
		// A dependency cycle (they exist in Void, e.g. through virtual
		// packages): the package is already on its way in.
		return nil
	}
	if len(path) > 256 {
		return fmt.Errorf("dependency chain too deep: %s", strings.Join(path, " → "))
	}
	r.state[p.Name] = 1
	r.chosen[p.Name] = p
	for _, dep := range p.RunDepends {
		if err := r.visit(dep, p.Pkgver, append(path, p.Name)); err != nil {
			return err
		}
	}
	r.state[p.Name] = 2
	r.order = append(r.order, p)
	return nil
}

func (r *resolver) checkConflicts() error {
	for _, p := range r.order {
		for _, c := range p.Conflicts {
			for _, q := range r.order {
				if q != p && MatchPattern(q.Pkgver, c) {
					return fmt.Errorf("%s conflicts with %s (%q); remove one of them from packages.void", p.Pkgver, q.Pkgver, c)
				}
			}
		}
	}
	return nil
}
