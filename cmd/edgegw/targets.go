package main

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/edgegw/edgegw/config"
)

// addTarget adds one --target URL to cfg's discovery tables: snmp://[community@]host[:port],
// modbus://host[:port]?unit=1&unit=2-4&profile=NAME, modbus:///dev/ttyUSB0?unit=1&baud=9600&parity=even,
// mdns://_service._tcp?interface=IF[&timeout=2s]. i numbers the target in credential references.
func addTarget(cfg *config.Config, raw string, i int) error {
	scheme, _, ok := strings.Cut(raw, "://")
	if !ok {
		return errors.New("want a URL: snmp://host, modbus://host:port?unit=1 or mdns://_service._tcp?interface=IF")
	}
	switch scheme {
	case "snmp":
		s, err := parseTargetURL(raw, cfg.Discovery.SNMP)
		if err != nil {
			return err
		}
		s.SetName(fmt.Sprintf("target[%d]", i))
		cfg.Discovery.SNMP = append(cfg.Discovery.SNMP, s)
	case "modbus":
		m, err := parseModbusURL(raw)
		if err != nil {
			return err
		}
		m.SetName(fmt.Sprintf("target[%d]", i))
		cfg.Discovery.Modbus = append(cfg.Discovery.Modbus, m)
	case "mdns":
		m, err := parseMDNSURL(raw)
		if err != nil {
			return err
		}
		if cur := cfg.Discovery.MDNS; cur != nil {
			// One mDNS browser per interface: the services of several targets go into one.
			if cur.Interface != m.Interface {
				return fmt.Errorf("mDNS targets on two interfaces (%q and %q): browse one interface at a time", cur.Interface, m.Interface)
			}
			cur.Services = append(cur.Services, m.Services...)
			cur.Timeout = max(cur.Timeout, m.Timeout)
		} else {
			cfg.Discovery.MDNS = m
		}
	default:
		return fmt.Errorf("unsupported scheme %q (want snmp://, modbus:// or mdns://)", scheme)
	}
	return cfg.Discovery.Validate()
}

// parseModbusURL reads modbus://host[:port]?unit=1&unit=3-5[&timeout=2s][&profile=NAME] (TCP) or
// modbus:///dev/ttyUSB0?unit=1[&baud=19200&parity=even&stop_bits=1] (RTU).
func parseModbusURL(raw string) (config.Modbus, error) {
	m := config.NewModbus()
	u, err := url.Parse(raw)
	if err != nil {
		return m, err
	}
	q := u.Query()
	switch {
	case u.Host != "" && u.Path != "" && u.Path != "/":
		return m, fmt.Errorf("unexpected path %q (a serial line is modbus:///dev/ttyUSB0)", u.Path)
	case u.Host != "":
		hostPort := u.Host
		if u.Port() == "" {
			hostPort = u.Hostname()
			if strings.Contains(hostPort, ":") {
				hostPort = "[" + hostPort + "]"
			}
		}
		t, err := config.ParseTarget(hostPort, m.Port)
		if err != nil {
			return m, err
		}
		m.Targets = []config.Target{t}
	case strings.HasPrefix(u.Path, "/dev/"):
		m.Serial = u.Path
	default:
		return m, errors.New("no host (want modbus://host[:port]?unit=1 or modbus:///dev/ttyUSB0?unit=1)")
	}
	if units := q["unit"]; len(units) > 0 {
		m.UnitIDs = nil
		for _, s := range units {
			lo, hi, isRange := strings.Cut(s, "-")
			a, err1 := strconv.Atoi(lo)
			b := a
			var err2 error
			if isRange {
				b, err2 = strconv.Atoi(hi)
			}
			if err1 != nil || err2 != nil || a < 1 || b > 255 || a > b {
				return m, fmt.Errorf("unit %q: want a unit id 1..255 or a range like 2-4", s)
			}
			for n := a; n <= b; n++ {
				m.UnitIDs = append(m.UnitIDs, uint8(n))
			}
		}
	}
	for key, vals := range q {
		v := vals[len(vals)-1]
		var err error
		switch key {
		case "unit":
		case "timeout":
			m.Timeout, err = time.ParseDuration(v)
		case "profile":
			m.Profile = v
		case "baud":
			m.Baud, err = strconv.Atoi(v)
		case "parity":
			m.Parity = strings.ToLower(v)
		case "stop_bits":
			m.StopBits, err = strconv.Atoi(v)
		case "data_bits":
			m.DataBits, err = strconv.Atoi(v)
		default:
			return m, fmt.Errorf("unknown parameter %q (known: unit, timeout, profile, baud, parity, stop_bits, data_bits)", key)
		}
		if err != nil {
			return m, fmt.Errorf("%s=%q: %v", key, v, err)
		}
	}
	return m, nil
}

// parseMDNSURL reads mdns://_service._tcp?interface=IF[&timeout=2s].
func parseMDNSURL(raw string) (*config.MDNS, error) {
	m := config.NewMDNS()
	rest := strings.TrimPrefix(raw, "mdns://")
	svc, query, _ := strings.Cut(rest, "?")
	if svc == "" {
		return nil, errors.New("no service type (want mdns://_service._tcp?interface=IF)")
	}
	m.Services = []string{strings.TrimSuffix(svc, "/")}
	q, err := url.ParseQuery(query)
	if err != nil {
		return nil, err
	}
	for key, vals := range q {
		v := vals[len(vals)-1]
		switch key {
		case "interface":
			m.Interface = v
		case "timeout":
			if m.Timeout, err = time.ParseDuration(v); err != nil {
				return nil, fmt.Errorf("timeout=%q: %v", v, err)
			}
		default:
			return nil, fmt.Errorf("unknown parameter %q (known: interface, timeout)", key)
		}
	}
	return m, nil
}
