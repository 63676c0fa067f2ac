// Package profile loads device profiles: TOML files that say how to recognise a device model and what
// to poll from it. A set of profiles is embedded in the binary (profiles/*.toml); a site adds its own
// directories, whose profiles extend or replace the built-in ones. Everything is checked at load, and
// every problem is reported at once as file:line:col, so a bad profile stops the gateway at start, not
// at the first poll.
//
// The full reference, with examples, is docs/profiles.md at the top of the repository. In short:
//
//	[[profile]]                                 # one file may hold several profiles
//	name = "acme-display"                       # required; [a-z0-9-]+, unique in its directory
//	description = "ACME DisplayPro series"
//	kind = "display"                            # display projector ups pdu printer meter switch generic
//	manufacturer = "ACME"                       # used when the device does not say
//	extends = ["mib2", "entity"]                # fold in these profiles' points, methods and identity OIDs
//
//	[profile.match]                             # every condition given must hold; none: a base
//	sys_object_ids = [".1.3.6.1.4.1.99999.1"]   # sysObjectID prefixes, on whole arcs
//	sys_descr = "(?i)^ACME"                     # a Go regexp on sysDescr
//	present = [".1.3.6.1.4.1.99999.1.9.0"]      # OIDs the device must answer
//
//	[profile.identity]                          # OIDs that hold identity: serial model manufacturer
//	serial = ".1.3.6.1.4.1.99999.1.8.1.0"       # firmware hardware mac
//
//	[[profile.point]]
//	name = "temperatureCelsius"                 # required; camelCase, the twin property
//	oid = ".1.3.6.1.4.1.99999.1.1.1.0"          # required
//	type = "int"                                # required; int uint counter float string timeticks
//	scale = 0.1                                 #   bool enum mac ip oid
//	offset = 0                                  # reported = raw * scale + offset
//	unit = "Cel"                                # a UCUM code: % Cel V A W Wh Hz s h ...
//
//	[[profile.point]]
//	name = "powerState"
//	oid = ".1.3.6.1.4.1.99999.1.1.2.0"
//	type = "enum"
//	enum = { 1 = "on", 2 = "standby" }          # required for type "enum", only there
//	writable = true                             # the cloud may set it; min, max (numbers, in
//	                                            # reported units), max_len (strings) limit writes
//
//	[[profile.method]]
//	name = "reboot"                             # camelCase
//	oid = ".1.3.6.1.4.1.99999.1.2.1.0"
//	type = "int"
//	value = 1                                   # a string or an integer, checked against type
//
// Keys are snake_case and case-sensitive; an unknown key is an error. OIDs are numeric and dotted, each
// arc a uint32 without leading zeros, at least two arcs; a missing leading dot is added.
//
// # Extends
//
// A profile gets, from each base in extends order, its points, methods and identity OIDs, and its kind
// and manufacturer when it sets none itself. Its own definitions win: an own point replaces a base's
// point of the same name, in place. Where two bases disagree, identity OIDs, kind and manufacturer come
// from the later base, but a point or method that two different bases define is an error unless the
// profile defines it itself (one base reached along two paths is fine). Match conditions, name and
// description are never inherited. An unknown base and a cycle are errors. A profile whose kind is set
// nowhere is "other".
//
// # Matching
//
// [Library.Match] considers the profiles whose every match condition holds, and picks:
//
//  1. the one with the longest matching sys_object_ids prefix, counted in arcs (none counts 0);
//  2. then one with a sys_descr condition over one without;
//  3. then the one with more present conditions;
//  4. then the one whose name sorts first.
//
// A profile without match conditions is a base and never matches by itself. When no profile matches
// but the device said something (a sysObjectID or sysDescr), Match returns the "mib2" profile, the
// generic fallback; when it said nothing, nil.
//
// # Sources
//
// [Load] reads the embedded profiles, then each directory in order; each is a layer. A profile named
// like one in an earlier layer replaces it everywhere, including as a base and as the fallback, and is
// listed by [Library.Overrides] for the caller to log. Two profiles of one name within a layer are an
// error. Extends resolves across all layers after the replacements.
package profile
