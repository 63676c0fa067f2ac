package gateway

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// DeviceFilter selects devices for QueryDevices; an empty field selects every device.
type DeviceFilter struct {
	// ClaimState is unclaimed, pending, claimed, rejected or mismatch.
	ClaimState string
	// Connectivity is unknown, online or offline.
	Connectivity string
	// Protocol selects devices seen over it (a device seen over two protocols is selected by either).
	Protocol string
	// Kind is the device family (display, ups, ...; "other" also selects devices of no known kind).
	Kind string
	// Failing selects devices whose last poll reported an error.
	Failing bool
	// Text selects devices with it, in any case, in their id, MAC, serial, manufacturer, model, host
	// name, IP address or profile.
	Text string
}

// Sort keys of a device query.
const (
	SortID           = "id"
	SortManufacturer = "manufacturer"
	SortModel        = "model"
	SortKind         = "kind"
	SortClaimState   = "claimState"
	SortConnectivity = "connectivity"
	SortIP           = "ip"
	SortLastSeen     = "lastSeen"
)

// SortKeys are the sort keys QueryDevices knows.
var SortKeys = []string{SortID, SortManufacturer, SortModel, SortKind, SortClaimState, SortConnectivity, SortIP, SortLastSeen}

// DeviceQuery is a filter, an order and a page.
type DeviceQuery struct {
	DeviceFilter
	// Sort is one of SortKeys; "" sorts by id. Ties are broken by id.
	Sort string
	Desc bool
	// Offset skips that many matching devices; Limit caps the page (0: no cap).
	Offset, Limit int
}

// DevicePage is one page of matching devices, and how many match in all.
type DevicePage struct {
	Total   int
	Devices []Twin
}

// sortedIDs returns every device id in order, so that a query walks the inventory in order without
// sorting it each time. Twins are only ever added, so the list is stale exactly when the counts
// differ. s.mu must be held.
func (s *twinSet) sortedIDs() []string {
	if len(s.sorted) != len(s.twins) {
		s.sorted = slices.Sorted(maps.Keys(s.twins))
	}
	return s.sorted
}

// QueryDevices returns one page of the devices that match q, in q's order. It copies only the twins of
// the page: with 50,000 devices a query costs a walk over the inventory under the lock, not 50,000
// copies (BENCHMARKS.md). Sorting by anything but the id gathers the matches' keys and sorts them
// outside the lock.
func (g *Gateway) QueryDevices(q DeviceQuery) (DevicePage, error) {
	if q.Sort != "" && !slices.Contains(SortKeys, q.Sort) {
		return DevicePage{}, fmt.Errorf("sort %q is not one of %s", excerptForError(q.Sort), strings.Join(SortKeys, ", "))
	}
	if q.Offset < 0 || q.Limit < 0 {
		return DevicePage{}, fmt.Errorf("offset and limit must not be negative")
	}
	match := q.DeviceFilter.matcher()
	inPage := func(n int) bool { return n >= q.Offset && (q.Limit == 0 || n < q.Offset+q.Limit) }
	var page DevicePage
	ts := g.twins
	if q.Sort == "" || q.Sort == SortID {
		ts.mu.Lock()
		defer ts.mu.Unlock()
		ids := ts.sortedIDs()
		for k := range ids {
			if q.Desc {
				k = len(ids) - 1 - k
			}
			t := ts.twins[ids[k]]
			if !match(t) {
				continue
			}
			if inPage(page.Total) {
				page.Devices = append(page.Devices, t.clone())
			}
			page.Total++
		}
		return page, nil
	}

	// Keys are strings the twins already hold (no copies), so the sort can run without the lock.
	type keyed struct {
		id  string
		key string
		at  time.Time
	}
	ts.mu.Lock()
	sel := make([]keyed, 0, len(ts.twins))
	for id, t := range ts.twins {
		if !match(t) {
			continue
		}
		k := keyed{id: id}
		switch q.Sort {
		case SortManufacturer:
			k.key = t.Identity.Manufacturer
		case SortModel:
			k.key = t.Identity.Model
		case SortKind:
			k.key = t.Identity.Kind
		case SortClaimState:
			k.key = t.Claim.State
		case SortConnectivity:
			k.key = t.Connectivity.State
		case SortIP:
			k.key = t.Identity.IP
		case SortLastSeen:
			k.at = t.LastSeen
		}
		sel = append(sel, k)
	}
	ts.mu.Unlock()
	dir := 1
	if q.Desc {
		dir = -1
	}
	if q.Sort == SortLastSeen {
		slices.SortFunc(sel, func(a, b keyed) int {
			return cmp.Or(dir*a.at.Compare(b.at), strings.Compare(a.id, b.id))
		})
	} else {
		slices.SortFunc(sel, func(a, b keyed) int {
			if a.key != b.key {
				return dir * strings.Compare(a.key, b.key)
			}
			return strings.Compare(a.id, b.id)
		})
	}
	page.Total = len(sel)
	lo, hi := min(q.Offset, len(sel)), len(sel)
	if q.Limit > 0 {
		hi = min(lo+q.Limit, len(sel))
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	for _, k := range sel[lo:hi] {
		if t, ok := ts.twins[k.id]; ok {
			page.Devices = append(page.Devices, t.clone())
		}
	}
	return page, nil
}

// matcher compiles the filter into a test on a twin (called with the twins' lock held: it must not lock).
func (f DeviceFilter) matcher() func(*Twin) bool {
	text := strings.TrimSpace(f.Text)
	return func(t *Twin) bool {
		switch {
		case f.ClaimState != "" && t.Claim.State != f.ClaimState:
			return false
		case f.Connectivity != "" && t.Connectivity.State != f.Connectivity:
			return false
		case f.Kind != "" && kindOf(t) != f.Kind:
			return false
		case f.Failing && t.Connectivity.LastError == "":
			return false
		case f.Protocol != "" && !slices.Contains(t.Identity.Protocols, f.Protocol):
			return false
		}
		if text == "" {
			return true
		}
		id := &t.Identity
		for _, s := range [...]string{t.DeviceID, id.MAC, id.Serial, id.Manufacturer, id.Model, id.Hostname, id.IP, t.Profile} {
			if containsFold(s, text) {
				return true
			}
		}
		return false
	}
}

// kindOf is a device's kind, "other" when it has none.
func kindOf(t *Twin) string {
	if t.Identity.Kind == "" {
		return "other"
	}
	return t.Identity.Kind
}

// containsFold reports whether substr is in s, compared case-insensitively. For ASCII text (what ids,
// MACs, serials and models are) it compares bytes without allocating, since a query runs it over eight
// fields of every device.
func containsFold(s, substr string) bool {
	n := len(substr)
	if n == 0 {
		return true
	}
	for i := 0; i < n; i++ {
		if substr[i] >= utf8.RuneSelf {
			return strings.Contains(strings.ToLower(s), strings.ToLower(substr))
		}
	}
	first, firstUp := lowerASCII(substr[0]), upperASCII(substr[0])
	for i := 0; i+n <= len(s); i++ {
		if c := s[i]; c != first && c != firstUp {
			continue
		}
		j := 1
		for ; j < n && lowerASCII(s[i+j]) == lowerASCII(substr[j]); j++ {
		}
		if j == n {
			return true
		}
	}
	return false
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func upperASCII(c byte) byte {
	if 'a' <= c && c <= 'z' {
		return c - ('a' - 'A')
	}
	return c
}

// Summary counts the inventory: by claim state, connectivity, protocol and kind, and how many devices
// fail to answer their polls.
type Summary struct {
	Devices        int            `json:"devices"`
	ByClaimState   map[string]int `json:"byClaimState"`
	ByConnectivity map[string]int `json:"byConnectivity"`
	// ByProtocol counts a device once for each protocol it was seen over.
	ByProtocol map[string]int `json:"byProtocol"`
	ByKind     map[string]int `json:"byKind"`
	// Failing counts devices whose last poll reported an error.
	Failing int `json:"failing"`
	// Groups counts devices by claim state, connectivity and kind together (for metrics).
	Groups []SummaryGroup `json:"-"`
}

// SummaryGroup is how many devices share a claim state, a connectivity and a kind.
type SummaryGroup struct {
	ClaimState, Connectivity, Kind string
	Devices                        int
}

// Summary counts the inventory in one walk, copying nothing.
func (g *Gateway) Summary() Summary {
	s := Summary{ByClaimState: map[string]int{}, ByConnectivity: map[string]int{}, ByProtocol: map[string]int{},
		ByKind: map[string]int{}}
	groups := map[[3]string]int{}
	g.twins.mu.Lock()
	for _, t := range g.twins.twins {
		s.Devices++
		k := [3]string{t.Claim.State, t.Connectivity.State, kindOf(t)}
		s.ByClaimState[k[0]]++
		s.ByConnectivity[k[1]]++
		s.ByKind[k[2]]++
		groups[k]++
		for _, p := range t.Identity.Protocols {
			s.ByProtocol[p]++
		}
		if t.Connectivity.LastError != "" {
			s.Failing++
		}
	}
	g.twins.mu.Unlock()
	for k, n := range groups {
		s.Groups = append(s.Groups, SummaryGroup{ClaimState: k[0], Connectivity: k[1], Kind: k[2], Devices: n})
	}
	slices.SortFunc(s.Groups, func(a, b SummaryGroup) int {
		return cmp.Or(strings.Compare(a.ClaimState, b.ClaimState), strings.Compare(a.Connectivity, b.Connectivity),
			strings.Compare(a.Kind, b.Kind))
	})
	return s
}
