package profile

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/edgegw/edgegw/gateway"
	"github.com/edgegw/edgegw/internal/tomlx"
)

// resolved is a profile with its bases folded in, and for each point and method the profile that
// defined it, so that a base reached along two paths (a diamond) is not taken for a clash.
type resolved struct {
	p          *gateway.Profile
	pointFrom  []string
	methodFrom []string
	// eventFrom is, for each event, the profile that defined it and its place there ("ups-mib#3"): a
	// base reached along two paths brings its events once.
	eventFrom []string
}

type resolver struct {
	raws     map[string]*rawProfile
	codecs   Codecs
	done     map[string]*resolved
	visiting []string // the extends chain being resolved, for cycle messages
	errs     []*Error
}

// resolveAll folds extends into every profile of raws (keyed by name).
func resolveAll(raws map[string]*rawProfile, codecs Codecs) (map[string]*resolved, []*Error) {
	r := &resolver{raws: raws, codecs: codecs, done: map[string]*resolved{}}
	names := make([]string, 0, len(raws))
	for n := range raws {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		r.resolve(n)
	}
	return r.done, r.errs
}

func (r *resolver) errorf(raw *rawProfile, key string, format string, args ...any) {
	r.errs = append(r.errs, raw.errorf(key, format, args...))
}

func (r *resolver) resolve(name string) *resolved {
	if res, ok := r.done[name]; ok {
		return res
	}
	raw := r.raws[name]
	r.visiting = append(r.visiting, name)
	defer func() { r.visiting = r.visiting[:len(r.visiting)-1] }()

	var bases []*resolved
	for i, b := range raw.extends {
		switch {
		case r.raws[b] == nil:
			r.errorf(raw, raw.extKeys[i], "extends unknown profile %q", b)
		case slices.Contains(r.visiting, b):
			chain := append(slices.Clone(r.visiting[slices.Index(r.visiting, b):]), b)
			r.errorf(raw, raw.extKeys[i], "extends cycle: %s", strings.Join(chain, " -> "))
		default:
			bases = append(bases, r.resolve(b))
		}
	}

	own := raw.prof
	p := &gateway.Profile{
		Name:        own.Name,
		Description: own.Description,
		Protocol:    own.Protocol,
		Match:       own.Match, // a protocol's own value, read-only: raws of the embedded set are shared
		Source:      own.Source,
	}
	for _, b := range bases {
		if b.p.Protocol != p.Protocol {
			r.errorf(raw, r.extendsAt(raw, b.p.Name), "%q speaks %s and %q %s: a profile extends only profiles of its own protocol",
				own.Name, p.Protocol, b.p.Name, b.p.Protocol)
		}
	}
	codec := r.codecs[p.Protocol]
	res := &resolved{p: p}
	for _, b := range bases {
		if b.p.Kind != "" {
			p.Kind = b.p.Kind
		}
		if b.p.Manufacturer != "" {
			p.Manufacturer = b.p.Manufacturer
		}
		if codec != nil && b.p.Protocol == p.Protocol {
			p.Identity = codec.MergeIdentity(p.Identity, b.p.Identity)
		}
	}
	if own.Kind != "" {
		p.Kind = own.Kind
	}
	if p.Kind == "" {
		p.Kind = "other"
	}
	if own.Manufacturer != "" {
		p.Manufacturer = own.Manufacturer
	}
	if codec != nil {
		p.Identity = codec.MergeIdentity(p.Identity, own.Identity)
	}

	// Points: the bases' in extends order, then the profile's own; an own point replaces a base's in
	// place. Two bases that bring different definitions of one name are a clash unless the profile
	// settles it with its own.
	ownPoint := func(n string) bool { return own.Point(n) != nil }
	ownMethod := func(n string) bool {
		return slices.ContainsFunc(own.Methods, func(m gateway.Method) bool { return m.Name == n })
	}
	for _, b := range bases {
		for i, pt := range b.p.Points {
			j := slices.IndexFunc(p.Points, func(q gateway.Point) bool { return q.Name == pt.Name })
			switch {
			case j < 0:
				p.Points = append(p.Points, pt)
				res.pointFrom = append(res.pointFrom, b.pointFrom[i])
			case res.pointFrom[j] != b.pointFrom[i] && !ownPoint(pt.Name):
				r.errorf(raw, r.extendsAt(raw, b.p.Name), "point %q comes from both %q and %q: define it in %q to choose",
					pt.Name, res.pointFrom[j], b.pointFrom[i], own.Name)
			}
		}
		for i, m := range b.p.Methods {
			j := slices.IndexFunc(p.Methods, func(q gateway.Method) bool { return q.Name == m.Name })
			switch {
			case j < 0:
				p.Methods = append(p.Methods, m)
				res.methodFrom = append(res.methodFrom, b.methodFrom[i])
			case res.methodFrom[j] != b.methodFrom[i] && !ownMethod(m.Name):
				r.errorf(raw, r.extendsAt(raw, b.p.Name), "method %q comes from both %q and %q: define it in %q to choose",
					m.Name, res.methodFrom[j], b.methodFrom[i], own.Name)
			}
		}
	}
	for _, pt := range own.Points {
		pt.Enum, pt.Min, pt.Max = maps.Clone(pt.Enum), clonePtr(pt.Min), clonePtr(pt.Max)
		if j := slices.IndexFunc(p.Points, func(q gateway.Point) bool { return q.Name == pt.Name }); j >= 0 {
			p.Points[j], res.pointFrom[j] = pt, own.Name
			continue
		}
		p.Points = append(p.Points, pt)
		res.pointFrom = append(res.pointFrom, own.Name)
	}
	for _, m := range own.Methods {
		if j := slices.IndexFunc(p.Methods, func(q gateway.Method) bool { return q.Name == m.Name }); j >= 0 {
			p.Methods[j], res.methodFrom[j] = m, own.Name
			continue
		}
		p.Methods = append(p.Methods, m)
		res.methodFrom = append(res.methodFrom, own.Name)
	}
	if p.Points == nil {
		p.Points = []gateway.Point{}
	}
	// Events: the profile's own first (they take precedence when a notification matches several), then
	// each base's in extends order. Set values must name the profile's points.
	for i, e := range own.Events {
		e.Set = maps.Clone(e.Set)
		p.Events = append(p.Events, e)
		res.eventFrom = append(res.eventFrom, fmt.Sprintf("%s#%d", own.Name, i))
		if i < len(raw.setKeys) && raw.setKeys[i] != "" {
			key := raw.setKeys[i]
			checkSet(p, e.Set, func(n, format string, args ...any) {
				r.errs = append(r.errs, raw.doc.NewError(tomlx.JoinKey(key, n), false, format, args...))
			})
		}
	}
	for _, b := range bases {
		for i, e := range b.p.Events {
			if slices.Contains(res.eventFrom, b.eventFrom[i]) {
				continue
			}
			p.Events = append(p.Events, e)
			res.eventFrom = append(res.eventFrom, b.eventFrom[i])
		}
	}
	r.done[name] = res
	return res
}

// extendsAt is the key where raw names base in its extends list.
func (r *resolver) extendsAt(raw *rawProfile, base string) string {
	if i := slices.Index(raw.extends, base); i >= 0 {
		return raw.extKeys[i]
	}
	return raw.key
}

func clonePtr(f *float64) *float64 {
	if f == nil {
		return nil
	}
	v := *f
	return &v
}
