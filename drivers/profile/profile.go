package profile

import (
	"cmp"
	"embed"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/edgegw/edgegw/gateway"
)

//go:embed profiles/*.toml
var embedded embed.FS

// embeddedPrefix starts the Source of every built-in profile.
const embeddedPrefix = "embedded:"

// Library is a loaded, validated set of profiles. It is immutable and safe for concurrent use; the
// profiles it hands out are shared and must not be modified. Each driver matches devices to the
// profiles of its own protocol itself.
type Library struct {
	profiles  []*gateway.Profile // by name
	byName    map[string]*gateway.Profile
	overrides []Override
}

var _ gateway.Profiles = (*Library)(nil)

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
//
// codecs read each protocol's parts of a profile (protocol.Spec.Profile of every driver); a profile of
// another protocol is an error.
func Load(dirs []string, codecs Codecs) (*Library, error) {
	emb, errs := embeddedLayer(codecs)
	errs = slices.Clip(errs) // shared: appending must copy
	layers := []layer{emb}
	for _, dir := range dirs {
		files, err := readDir(dir)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		l, lerrs := parseLayer(files, codecs)
		errs = append(errs, lerrs...)
		layers = append(layers, l)
	}
	all, _, overrides, rerrs := combine(layers, codecs)
	errs = append(errs, rerrs...)
	if len(errs) > 0 {
		return nil, joinErrors(errs)
	}
	lib := &Library{profiles: all, byName: make(map[string]*gateway.Profile, len(all)), overrides: overrides}
	for _, p := range all {
		lib.byName[p.Name] = p
	}
	return lib, nil
}

// Parse parses and checks one profile file and returns its profiles with extends resolved. source names
// the file in messages ("embedded:generic.toml", a path). A profile may extend any profile in the same
// file or an embedded one; one named like an embedded profile replaces it, as in Load. Errors are as
// for Load.
func Parse(source string, data []byte, codecs Codecs) ([]*gateway.Profile, error) {
	emb, errs := embeddedLayer(codecs)
	mine, lerrs := parseLayer([]file{{source, data}}, codecs)
	errs = append(slices.Clip(errs), lerrs...) // errs is shared: appending must copy
	all, from, _, rerrs := combine([]layer{emb, mine}, codecs)
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

// embeddedLayer parses the embedded profiles once per process and set of protocols. The result is
// read-only: it is shared by every Load and Parse (parsing it again on each call would dominate Parse's
// cost).
func embeddedLayer(codecs Codecs) (layer, []*Error) {
	names := make([]string, 0, len(codecs))
	for n := range codecs {
		names = append(names, n)
	}
	slices.Sort(names)
	key := strings.Join(names, ",")
	if v, ok := embeddedCache.Load(key); ok {
		e := v.(*parsedLayer)
		return e.l, e.errs
	}
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
	l, errs := parseLayer(files, codecs)
	v, _ := embeddedCache.LoadOrStore(key, &parsedLayer{l, errs})
	e := v.(*parsedLayer)
	return e.l, e.errs
}

type parsedLayer struct {
	l    layer
	errs []*Error
}

// embeddedCache holds the parsed embedded layer per set of protocol names: the files are fixed at
// build time and codecs are stateless, so one parse serves every Load.
var embeddedCache sync.Map

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
func parseLayer(files []file, codecs Codecs) (layer, []*Error) {
	var errs []*Error
	l := layer{}
	for _, f := range files {
		raws, ferrs := parseFile(f.source, f.data, codecs)
		errs = append(errs, ferrs...)
		for _, r := range raws {
			name := r.prof.Name
			if name == "" {
				continue // reported already
			}
			if prev, dup := l[name]; dup {
				pl, pc := prev.doc.Pos(prev.key + ".name")
				errs = append(errs, r.errorf(r.key+".name", "profile %q is already defined at %s:%d:%d", name, prev.prof.Source, pl, pc))
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
func combine(layers []layer, codecs Codecs) ([]*gateway.Profile, []int, []Override, []*Error) {
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
	done, errs := resolveAll(final, codecs)
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

// List returns every profile, sorted by name.
func (l *Library) List() []*gateway.Profile { return slices.Clone(l.profiles) }

// Get returns the named profile, or nil if there is none.
func (l *Library) Get(name string) *gateway.Profile { return l.byName[name] }

// Overrides lists the profiles that a site directory replaced, sorted by name, for the caller to log.
func (l *Library) Overrides() []Override { return slices.Clone(l.overrides) }
