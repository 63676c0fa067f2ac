package snmp

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/edgegw/edgegw/gateway"
)

// Fallback is the profile a device gets that answered SNMP but fits no other profile.
const Fallback = "mib2"

// matcher picks the SNMP profile for a device from what it said about itself. It is built once from
// the profile library.
type matcher struct {
	rules    []rule
	fallback *gateway.Profile
	probe    []string
}

// rule is one profile's match conditions, compiled.
type rule struct {
	p        *gateway.Profile
	prefixes []prefix
	descr    *regexp.Regexp
	present  []string
}

// prefix is a sysObjectID prefix without its leading dot, and how many arcs it has.
type prefix struct {
	oid  string
	arcs int
}

// newMatcher compiles the match conditions of the SNMP profiles in ps.
func newMatcher(ps gateway.Profiles) (*matcher, error) {
	m := &matcher{}
	if ps == nil {
		return m, nil
	}
	for _, p := range ps.List() {
		if p.Protocol != Protocol {
			continue
		}
		if p.Name == Fallback {
			m.fallback = p
		}
		c, _ := p.Match.(*Match)
		if c == nil {
			continue
		}
		r := rule{p: p, present: c.Present}
		for _, o := range c.SysObjectIDs {
			o = strings.TrimPrefix(o, ".")
			r.prefixes = append(r.prefixes, prefix{o, strings.Count(o, ".") + 1})
		}
		if c.SysDescr != "" {
			re, err := regexp.Compile(c.SysDescr)
			if err != nil { // checked at load; kept for profiles built some other way
				return nil, fmt.Errorf("profile %s: sys_descr: %w", p.Name, err)
			}
			r.descr = re
		}
		m.rules = append(m.rules, r)
		m.probe = append(m.probe, c.Present...)
	}
	slices.SortFunc(m.rules, func(a, b rule) int { return strings.Compare(a.p.Name, b.p.Name) })
	slices.Sort(m.probe)
	m.probe = slices.Compact(m.probe)
	return m, nil
}

// match returns the profile that fits a device best, among those whose every condition holds:
//
//  1. the longest matching sysObjectID prefix, counted in arcs, wins (a profile without a
//     sys_object_ids condition counts 0);
//  2. then a profile with a sys_descr condition beats one without;
//  3. then the one with more present conditions;
//  4. then the one whose name sorts first.
//
// Profiles without any condition are bases and never match. When nothing matches but the device said
// anything at all (a sysObjectID or a sysDescr), match returns the "mib2" profile; otherwise nil.
// present reports whether the device answered an OID of probe; nil means it answered none.
func (m *matcher) match(id gateway.Identity, present func(oid string) bool) *gateway.Profile {
	oid := strings.TrimPrefix(id.SysObjectID, ".")
	var best *rule
	var bestArcs, bestPresent int
	var bestDescr bool
outer:
	for i := range m.rules {
		r := &m.rules[i]
		arcs := 0
		if len(r.prefixes) > 0 {
			for _, p := range r.prefixes {
				if p.arcs > arcs && hasArcPrefix(oid, p.oid) {
					arcs = p.arcs
				}
			}
			if arcs == 0 {
				continue
			}
		}
		descr := r.descr != nil
		if descr && !r.descr.MatchString(id.SysDescr) {
			continue
		}
		for _, o := range r.present {
			if present == nil || !present(o) {
				continue outer
			}
		}
		// Rules are sorted by name, so on a full tie the earlier one stays.
		if best != nil {
			if arcs != bestArcs {
				if arcs < bestArcs {
					continue
				}
			} else if descr != bestDescr {
				if !descr {
					continue
				}
			} else if len(r.present) <= bestPresent {
				continue
			}
		}
		best, bestArcs, bestDescr, bestPresent = r, arcs, descr, len(r.present)
	}
	if best != nil {
		return best.p
	}
	if id.SysObjectID != "" || id.SysDescr != "" {
		return m.fallback
	}
	return nil
}

// hasArcPrefix reports whether oid starts with prefix on an arc boundary; neither has a leading dot.
func hasArcPrefix(oid, prefix string) bool {
	return strings.HasPrefix(oid, prefix) && (len(oid) == len(prefix) || oid[len(prefix)] == '.')
}
