package profile

import (
	"cmp"
	"embed"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/edgegw/edgegw/gateway"
)

//go:embed profiles/*.toml
var embedded embed.FS

// embeddedPrefix starts the Source of every built-in profile.
const embeddedPrefix = "embedded:"

// Fallback is the profile Match returns for a device that answered SNMP but fits no other profile.
const Fallback = "mib2"

// Library is a loaded, validated set of profiles. It is immutable and safe for concurrent use; the
// profiles it hands out are shared and must not be modified.
type Library struct {
	profiles  []*gateway.Profile // by name
	byName    map[string]*gateway.Profile
	matchers  []matcher // profiles with match conditions, by name
	fallback  *gateway.Profile
	probe     []string
	overrides []Override
	modbus    []modbusMatcher // protocol "modbus" profiles with match conditions, by name
	mdns      []*gateway.Profile
}

// modbusMatcher is a Modbus profile's compiled match conditions.
type modbusMatcher struct {
	p               *gateway.Profile
	vendor, product *regexp.Regexp
	models          []int
}

var _ gateway.ProfileMatcher = (*Library)(nil)

// Override records a profile that a later source replaced: a site file redefining a built-in profile,
// or a later directory redefining one from an earlier directory. The caller logs these at load.
type Override struct {
	Name string
	// Source is the file whose definition is in use; Replaced is the file whose definition it replaced.
	Source, Replaced string
}

// file is one profile file's name (for messages) and content.
type file struct {
	source string
	data   []byte
}

// Load builds a library from the embedded profiles, then every *.toml file in dirs, in order (files
// whose names start with "." are skipped). Each directory is a layer: a profile named like one from the
// embedded set or an earlier directory replaces it (see Overrides), while two definitions of one name
// within a layer are an error. A directory that does not exist is an error. Load returns every problem
// it found, each a *Error naming file:line:col, joined with errors.Join; then the library is nil.
func Load(dirs []string) (*Library, error) {
	emb, errs := embeddedLayer()
	errs = slices.Clip(errs) // shared: appending must copy
	layers := []layer{emb}
	for _, dir := range dirs {
		files, err := readDir(dir)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		l, lerrs := parseLayer(files)
		errs = append(errs, lerrs...)
		layers = append(layers, l)
	}
	all, _, overrides, rerrs := combine(layers)
	errs = append(errs, rerrs...)
	if len(errs) > 0 {
		return nil, joinErrors(errs)
	}
	lib, err := newLibrary(all)
	if err != nil {
		return nil, err
	}
	lib.overrides = overrides
	return lib, nil
}

// Parse parses and checks one profile file and returns its profiles with extends resolved. source names
// the file in messages ("embedded:generic.toml", a path). A profile may extend any profile in the same
// file or an embedded one; one named like an embedded profile replaces it, as in Load. Errors are as
// for Load.
func Parse(source string, data []byte) ([]*gateway.Profile, error) {
	emb, errs := embeddedLayer()
	mine, lerrs := parseLayer([]file{{source, data}})
	errs = append(slices.Clip(errs), lerrs...) // errs is shared: appending must copy
	all, from, _, rerrs := combine([]layer{emb, mine})
	errs = append(errs, rerrs...)
	if len(errs) > 0 {
		return nil, joinErrors(errs)
	}
	var out []*gateway.Profile
	for i, p := range all {
		if from[i] == 1 {
			out = append(out, p)
		}
	}
	return out, nil
}

// embeddedLayer parses the embedded profiles once per process. The result is read-only: it is shared
// by every Load and Parse (and parsing it again on each call would dominate Parse's cost).
var embeddedLayer = sync.OnceValues(func() (layer, []*Error) {
	entries, err := embedded.ReadDir("profiles")
	if err != nil {
		panic("profile: embedded profiles missing: " + err.Error()) // a build defect, not input
	}
	files := make([]file, 0, len(entries))
	for _, e := range entries {
		data, err := embedded.ReadFile("profiles/" + e.Name())
		if err != nil {
			panic("profile: embedded profiles unreadable: " + err.Error())
		}
		files = append(files, file{embeddedPrefix + e.Name(), data})
	}
	return parseLayer(files)
})

func readDir(dir string) ([]file, *Error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, &Error{Source: dir, Msg: "read profile directory: " + unwrapPath(err)}
	}
	var files []file
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".toml") || strings.HasPrefix(e.Name(), ".") || e.IsDir() {
			continue
		}
		path := filepath.Join(dir, e.Name())
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, &Error{Source: path, Msg: "read profile: " + unwrapPath(err)}
		}
		files = append(files, file{path, data})
	}
	return files, nil
}

// unwrapPath drops the path an *os.PathError repeats, since Error.Source already names it.
func unwrapPath(err error) string {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err.Error()
	}
	return err.Error()
}

// layer is one source of profiles (the embedded set, or one directory), by name.
type layer map[string]*rawProfile

// parseLayer parses the files of one layer. Two profiles of one name in a layer are an error.
func parseLayer(files []file) (layer, []*Error) {
	var errs []*Error
	l := layer{}
	for _, f := range files {
		raws, ferrs := parseFile(f.source, f.data)
		errs = append(errs, ferrs...)
		for _, r := range raws {
			name := r.prof.Name
			if name == "" {
				continue // reported already
			}
			if prev, dup := l[name]; dup {
				errs = append(errs, &Error{Source: r.prof.Source, Line: r.nameAt.line, Col: r.nameAt.col,
					Msg: fmt.Sprintf("profile %q is already defined at %s:%d:%d", name, prev.prof.Source, prev.nameAt.line, prev.nameAt.col)})
				continue
			}
			l[name] = r
		}
	}
	return l, errs
}

// combine applies the layers in order, a later one replacing an earlier one's profiles of the same
// name, and resolves extends across the result. It returns the profiles sorted by name, and for each
// the index of the layer it came from.
func combine(layers []layer) ([]*gateway.Profile, []int, []Override, []*Error) {
	final := map[string]*rawProfile{}
	from := map[string]int{}
	var overrides []Override
	for li, l := range layers {
		for name, r := range l {
			if prev, ok := final[name]; ok {
				overrides = append(overrides, Override{Name: name, Source: r.prof.Source, Replaced: prev.prof.Source})
			}
			final[name] = r
			from[name] = li
		}
	}
	slices.SortFunc(overrides, func(a, b Override) int {
		return cmp.Or(strings.Compare(a.Name, b.Name), strings.Compare(a.Source, b.Source))
	})
	done, errs := resolveAll(final)
	out := make([]*gateway.Profile, 0, len(done))
	for _, r := range done {
		out = append(out, r.p)
	}
	slices.SortFunc(out, func(a, b *gateway.Profile) int { return strings.Compare(a.Name, b.Name) })
	layerOf := make([]int, len(out))
	for i, p := range out {
		layerOf[i] = from[p.Name]
	}
	return out, layerOf, overrides, errs
}

// matcher is a profile's match conditions, compiled.
type matcher struct {
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

func newLibrary(profiles []*gateway.Profile) (*Library, error) {
	l := &Library{profiles: profiles, byName: make(map[string]*gateway.Profile, len(profiles))}
	for _, p := range profiles {
		l.byName[p.Name] = p
		m := p.Match
		switch p.ProtocolName() {
		case "modbus":
			if m.VendorName == "" && m.ProductCode == "" && len(m.SunSpecModels) == 0 {
				continue
			}
			mm := modbusMatcher{p: p, models: m.SunSpecModels}
			var err error
			if mm.vendor, err = compileOpt(m.VendorName); err != nil {
				return nil, fmt.Errorf("profile %s: vendor_name: %w", p.Name, err)
			}
			if mm.product, err = compileOpt(m.ProductCode); err != nil {
				return nil, fmt.Errorf("profile %s: product_code: %w", p.Name, err)
			}
			l.modbus = append(l.modbus, mm)
			continue
		case "mdns":
			if len(m.Services) > 0 {
				l.mdns = append(l.mdns, p)
			}
			continue
		}
		if len(m.SysObjectIDs) == 0 && m.SysDescr == "" && len(m.Present) == 0 {
			continue
		}
		mt := matcher{p: p, present: m.Present}
		for _, o := range m.SysObjectIDs {
			o = strings.TrimPrefix(o, ".")
			mt.prefixes = append(mt.prefixes, prefix{o, strings.Count(o, ".") + 1})
		}
		if m.SysDescr != "" {
			re, err := regexp.Compile(m.SysDescr)
			if err != nil { // checked at parse; kept for profiles built some other way
				return nil, fmt.Errorf("profile %s: sys_descr: %w", p.Name, err)
			}
			mt.descr = re
		}
		l.matchers = append(l.matchers, mt)
		l.probe = append(l.probe, m.Present...)
	}
	slices.Sort(l.probe)
	l.probe = slices.Compact(l.probe)
	l.fallback = l.byName[Fallback]
	return l, nil
}

// List returns every profile, sorted by name.
func (l *Library) List() []*gateway.Profile { return slices.Clone(l.profiles) }

// Get returns the named profile, or nil if there is none.
func (l *Library) Get(name string) *gateway.Profile { return l.byName[name] }

// Overrides lists the profiles that a site directory replaced, sorted by name, for the caller to log.
func (l *Library) Overrides() []Override { return slices.Clone(l.overrides) }

// ProbeOIDs returns every OID that some profile's match needs present, sorted and without repeats. A
// driver GETs them once per device at discovery and passes the answers to Match.
func (l *Library) ProbeOIDs() []string { return slices.Clone(l.probe) }

// Match returns the profile that fits a device best, among those whose every match condition holds:
//
//  1. the longest matching sysObjectID prefix, counted in arcs, wins (a profile without a
//     sys_object_ids condition counts 0);
//  2. then a profile with a sys_descr condition beats one without;
//  3. then the one with more present conditions;
//  4. then the one whose name sorts first.
//
// Profiles without any condition are bases and never match. When nothing matches but the device said
// anything at all (a sysObjectID or a sysDescr), Match returns the "mib2" profile; otherwise nil.
// present reports whether the device answered an OID from ProbeOIDs; nil means it answered none.
// Match does not allocate.
func (l *Library) Match(id gateway.Identity, present func(oid string) bool) *gateway.Profile {
	oid := strings.TrimPrefix(id.SysObjectID, ".")
	var best *matcher
	var bestArcs, bestPresent int
	var bestDescr bool
outer:
	for i := range l.matchers {
		m := &l.matchers[i]
		arcs := 0
		if len(m.prefixes) > 0 {
			for _, p := range m.prefixes {
				if p.arcs > arcs && hasArcPrefix(oid, p.oid) {
					arcs = p.arcs
				}
			}
			if arcs == 0 {
				continue
			}
		}
		descr := m.descr != nil
		if descr && !m.descr.MatchString(id.SysDescr) {
			continue
		}
		for _, o := range m.present {
			if present == nil || !present(o) {
				continue outer
			}
		}
		// Matchers are sorted by name, so on a full tie the earlier one stays.
		if best != nil {
			if arcs != bestArcs {
				if arcs < bestArcs {
					continue
				}
			} else if descr != bestDescr {
				if !descr {
					continue
				}
			} else if len(m.present) <= bestPresent {
				continue
			}
		}
		best, bestArcs, bestDescr, bestPresent = m, arcs, descr, len(m.present)
	}
	if best != nil {
		return best.p
	}
	if id.SysObjectID != "" || id.SysDescr != "" {
		return l.fallback
	}
	return nil
}

// MatchModbus returns the Modbus profile that fits a unit best, from its Read Device Identification
// objects (vendor, product; empty when it has none) and the SunSpec model ids found from "SunS" (nil
// when it has no SunSpec map). Every condition a profile sets must hold; among those that fit, the one
// with more conditions wins (vendor and product count one each, every SunSpec model one), then the one
// whose name sorts first. nil when none fits: the caller may then use a configured profile.
func (l *Library) MatchModbus(vendor, product string, models []int) *gateway.Profile {
	var best *gateway.Profile
	bestScore := 0
	for i := range l.modbus {
		m := &l.modbus[i]
		score := 0
		if m.vendor != nil {
			if vendor == "" || !m.vendor.MatchString(vendor) {
				continue
			}
			score++
		}
		if m.product != nil {
			if product == "" || !m.product.MatchString(product) {
				continue
			}
			score++
		}
		ok := true
		for _, id := range m.models {
			if !slices.Contains(models, id) {
				ok = false
				break
			}
		}
		if !ok {
			continue
		}
		score += len(m.models)
		if score > bestScore {
			best, bestScore = m.p, score
		}
	}
	return best
}

// MatchMDNS returns the mDNS profile for a service type ("_pjlink._tcp", compared without case and
// without a trailing ".local."): the first by name that lists it, or nil.
func (l *Library) MatchMDNS(service string) *gateway.Profile {
	service = strings.ToLower(strings.TrimSuffix(strings.TrimSuffix(service, "."), ".local"))
	for _, p := range l.mdns {
		if slices.Contains(p.Match.Services, service) {
			return p
		}
	}
	return nil
}

func compileOpt(expr string) (*regexp.Regexp, error) {
	if expr == "" {
		return nil, nil
	}
	return regexp.Compile(expr)
}

// hasArcPrefix reports whether oid starts with prefix on an arc boundary; neither has a leading dot.
func hasArcPrefix(oid, prefix string) bool {
	return strings.HasPrefix(oid, prefix) && (len(oid) == len(prefix) || oid[len(prefix)] == '.')
}
