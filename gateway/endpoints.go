package gateway

import "fmt"

// profileFor is the profile that drives one endpoint of a device: the one matched over that protocol,
// else the twin's (twins stored before endpoints carried their own profile).
func (g *Gateway) profileFor(ep EndpointRef, twinProfile string) *Profile {
	if g.opts.Profiles == nil {
		return nil
	}
	name := ep.Profile
	if name == "" {
		name = twinProfile
	}
	p := g.opts.Profiles.Get(name)
	if p != nil && p.Protocol != ep.Protocol {
		return nil // a profile of another protocol: its points mean nothing to this driver
	}
	return p
}

// settingAt finds the endpoint whose profile declares the point name, preferring one whose driver
// can write. ok is false when no endpoint's profile has it.
func (g *Gateway) settingAt(eps []EndpointRef, twinProfile, name string) (EndpointRef, *Point, bool) {
	var at EndpointRef
	var found *Point
	for _, e := range eps {
		p := g.profileFor(e, twinProfile)
		if p == nil {
			continue
		}
		q := p.Point(name)
		if q == nil {
			continue
		}
		if _, w := g.opts.Pollers[e.Protocol].(Writer); w {
			return e, q, true
		}
		if found == nil {
			at, found = e, q
		}
	}
	return at, found, found != nil
}

// methodAt finds the endpoint whose profile declares the method name.
func (g *Gateway) methodAt(eps []EndpointRef, twinProfile, name string) (EndpointRef, *Method, bool) {
	for _, e := range eps {
		p := g.profileFor(e, twinProfile)
		if p == nil {
			continue
		}
		for i := range p.Methods {
			if p.Methods[i].Name == name {
				return e, &p.Methods[i], true
			}
		}
	}
	return EndpointRef{}, nil, false
}

// methodNames lists every method the device's profiles declare, for error messages.
func (g *Gateway) methodNames(eps []EndpointRef, twinProfile string) []string {
	names := []string{MethodRefresh}
	for _, e := range eps {
		if p := g.profileFor(e, twinProfile); p != nil {
			for _, m := range p.Methods {
				names = append(names, m.Name)
			}
		}
	}
	return names
}

// claimedTwin returns a copy of the device's twin if it is claimed: only claimed devices take commands
// that reach the device (what: "settings", "methods").
func (g *Gateway) claimedTwin(id, what string) (Twin, error) {
	t, ok := g.twins.get(id)
	if !ok {
		return Twin{}, fmt.Errorf("%w: %s", ErrNoDevice, id)
	}
	if t.Claim.State != ClaimClaimed {
		return Twin{}, fmt.Errorf("device %s is %s: only claimed devices take %s", id, t.Claim.State, what)
	}
	return t, nil
}
