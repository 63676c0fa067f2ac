package enterprise

import (
	"slices"
	"strings"
	"unicode/utf8"
)

// labels are the names on the labels of the makers a site has, for enterprise numbers whose
// registered name people would not recognise or that Display would not shorten well. Each comment is
// the name as registered (2025-06-30). A maker that registered several numbers has each here.
var labels = map[uint32]string{
	// Power: UPS, PDU, power systems.
	318:   "APC",                // American Power Conversion Corp.
	5528:  "APC",                // NetBotz (APC's environment monitors)
	52674: "APC",                // Schneider Electric / APC NetBotz
	3833:  "Schneider Electric", // Schneider Electric
	534:   "Eaton",              // Eaton Corporation (Powerware's XUPS-MIB and Eaton's ePDUs live here)
	// Merlin Gerin: MGE UPS Systems, whose small and mid-size UPSes and their MIB went to Eaton in
	// 2007 (Eaton's network cards still answer under 705); MGE's big Galaxy line went to Schneider.
	705:   "Eaton",
	13742: "Raritan",           // Raritan Computer, Inc.
	1718:  "Server Technology", // Server Technology Inc. (Sentry PDUs)
	476:   "Vertiv",            // Vertiv (formerly 'Emerson Computer Power'): Liebert
	6302:  "Vertiv",            // Vertiv (formerly 'Emerson Energy Systems')
	13400: "Vertiv",            // Vertiv Tech Co.,Ltd. (formerly 'Emerson Network Power Co.,Ltd.')
	21239: "Vertiv",            // Vertiv (formerly 'Geist Manufacturing, Inc'): Geist PDUs and sensors
	49150: "Vertiv",            // Vertiv Co
	10418: "Avocent",           // Avocent Corporation
	3808:  "CyberPower",        // Cyber Power System Inc.
	15446: "CyberPower",        // CyberPower Systems, Inc.
	850:   "Tripp Lite",        // Tripp Lite
	4555:  "Socomec",           // Socomec Sicon Ups
	7783:  "Riello",            // Riello S.p.A.
	5491:  "Riello",            // UPS Manufacturing: the number Riello UPS's NetMan cards answer under
	2254:  "Delta",             // Delta Electronics, Inc.
	6785:  "Delta",             // Delta Electronics Inc.
	20246: "Delta",             // Delta Electronics (Switzerland) AG (formerly 'Delta Energy Systems (Sweden) AB')
	55937: "Delta",             // Delta Electronics, Inc.
	58378: "Delta",             // Delta Electronics Inc.
	62726: "Delta",             // Delta Electronics, Inc. (ICTBG)
	2011:  "Huawei",            // HUAWEI Technology Co.,Ltd
	19536: "Panduit",           // Panduit Corp.
	3711:  "Panduit",           // SINETICA (Panduit's EPDUs and Eagle-i monitors)
	38446: "Enlogic",           // Enlogic Systems, LLC
	7239:  "Legrand",           // LEGRAND
	50138: "Legrand",           // Legrand North and Central America
	12148: "Eltek",             // ELTEK Energy AS
	13858: "Eltek",             // Eltek Valere Inc. (formerly 'Valere Power Inc')
	935:   "Phoenixtec",        // Phoenixtec Power Co., Ltd. (network cards in many brands of UPS)
	2634:  "WTI",               // Western Telematic, Inc.
	28507: "Gude",              // Gude Analog- und Digitalsysteme GmbH
	31034: "Schleifenbauer",    // Schleifenbauer Products BV
	34278: "Janitza",           // Janitza electronics GmbH

	// Environment monitoring, racks, cooling.
	21796: "HW group",          // HW group s.r.o
	3854:  "AKCP",              // KCP, Inc.
	20916: "AVTECH",            // AVTECH Software, Inc.
	2606:  "Rittal",            // Rittal GmbH & Co. KG
	18248: "Papouch",           // PaPouch elektronika
	5040:  "Wiesemann & Theis", // Wiesemann & Theis GmbH
	22626: "Comet System",      // COMET SYSTEM, s.r.o.
	16174: "Sensatronics",      // Sensatronics LLC
	39052: "Vutlan",            // Vutlan sro (formerly 'Sky Control sro')
	9839:  "Carel",             // CAREL
	29462: "Stulz",             // Stulz GmbH Klimatechnik

	// Printers.
	11:    "HP",             // Hewlett-Packard (printers, and the older ProCurve switches)
	58515: "HP",             // HP Inc.
	1602:  "Canon",          // CANON Inc.
	2385:  "Sharp",          // SHARP Corporation
	31768: "Sharp",          // SHARP Electronics (Europe) GmbH
	253:   "Xerox",          // Xerox
	297:   "Fujifilm",       // FUJIFILM Business Innovation Corp. (formerly Fuji Xerox)
	641:   "Lexmark",        // Lexmark International
	1347:  "Kyocera",        // KYOCERA Corporation
	1248:  "Epson",          // SEIKO EPSON CORPORATION
	2435:  "Brother",        // Brother Industries, Ltd.
	367:   "Ricoh",          // RICOH Co. Ltd.
	18334: "Konica Minolta", // KONICA MINOLTA HOLDINGS, INC.
	50919: "Konica Minolta", // KONICA MINOLTA, INC.
	2001:  "OKI",            // Oki Data Corporation
	186:   "Toshiba",        // Toshiba Corporation
	10642: "Zebra",          // Zebra Technologies Corporation

	// AV and collaboration.
	13885: "Poly",      // Polycom, Inc.
	7312:  "Barco",     // BARCO Control Rooms
	12612: "Barco",     // Barco BCI
	12827: "Barco",     // Barco, Inc.
	16067: "Barco",     // BarcoIntelligentDisplays
	58924: "Barco",     // Barco NV
	25766: "Christie",  // Christie Digital Systems
	119:   "NEC",       // NEC Corporation
	14399: "NEC",       // NEC Platforms, Ltd.
	258:   "Panasonic", // Matsushita Electric Industrial Co., Ltd.
	396:   "Panasonic", // Panasonic Corporation Eco Solutions Company (formerly 'Panasonic Electric Works Co., Ltd.')
	122:   "Sony",      // Sony
	18026: "Extron",    // Extron Electronics
	368:   "Axis",      // Axis Communications AB
	6530:  "2N",        // 2N spol. s r.o.
	24071: "Zenitel",   // Zenitel Radioteknik
	26122: "Zenitel",   // Zenitel Norway AS
	30260: "Zenitel",   // Zenitel Netherlands BV
	3212:  "Crestron",  // Crestron Electronics, Inc.
	8942:  "AMX",       // AMX Corp
	44457: "Biamp",     // Biamp Systems
	1531:  "QSC",       // QSC Audio Products
	49563: "Shure",     // Shure Incorporated
	37459: "Yealink",   // Yealink
	39165: "Hikvision", // Hikvision Digital Technology Co., Ltd.
	37496: "Dahua",     // ZHEJIANG DAHUA TECHNOLOGY CO.,LTD
	23465: "Vivotek",   // VIVOTEK INC.

	// Network.
	9:     "Cisco",              // ciscoSystems
	5771:  "Cisco",              // Cisco Systems, Inc.
	5842:  "Cisco",              // Cisco Systems
	26484: "Cisco",              // Cisco Systems, Inc. (formerly 'Arch Rock Corporation')
	29671: "Cisco Meraki",       // Meraki Networks, Inc.
	47196: "HPE",                // Hewlett Packard Enterprise
	14823: "Aruba",              // Aruba, a Hewlett Packard Enterprise company
	2636:  "Juniper",            // Juniper Networks, Inc.
	1411:  "Juniper",            // Juniper Networks/Funk Software
	4874:  "Juniper",            // Juniper Networks/Unisphere
	674:   "Dell",               // Dell Inc.
	14988: "MikroTik",           // MikroTik
	8691:  "Moxa",               // Moxa Technologies Co., Ltd.
	4526:  "Netgear",            // Netgear
	41112: "Ubiquiti",           // Ubiquiti Networks, Inc.
	30065: "Arista",             // Arista Networks, Inc. (formerly 'Arastra, Inc.')
	1916:  "Extreme Networks",   // Extreme Networks
	1588:  "Brocade",            // Brocade Communications Systems, Inc.
	1991:  "Brocade",            // Brocade Communication Systems, Inc. (formerly 'Foundry Networks, Inc.')
	25053: "Ruckus",             // Ruckus Wireless, Inc.
	11863: "TP-Link",            // TP-Link Systems Inc.
	171:   "D-Link",             // D-Link Systems, Inc.
	890:   "Zyxel",              // ZyXEL Communications Corp.
	207:   "Allied Telesis",     // Allied Telesis, Inc.
	25506: "H3C",                // H3C
	3902:  "ZTE",                // Zhongxing Telecom Co.,ltd. (abbr. ZTE)
	12356: "Fortinet",           // Fortinet, Inc.
	25461: "Palo Alto Networks", // PALO ALTO NETWORKS
	2620:  "Check Point",        // Check Point Software Technologies Ltd
	2604:  "Sophos",             // Sophos Plc
	3097:  "WatchGuard",         // WatchGuard Technologies Inc.
	8741:  "SonicWall",          // SonicWALL, Inc.
	12276: "F5",                 // F5 Networks Inc
	3375:  "F5",                 // F5 Labs, Inc.
	94:    "Nokia",              // Nokia
	4329:  "Siemens",            // Siemens AG
	4346:  "Phoenix Contact",    // Phoenix Contact GmbH & Co. KG
	248:   "Hirschmann",         // Richard Hirschmann GmbH & Co.
	16177: "Westermo",           // Westermo Teleindustri AB
	244:   "Lantronix",          // Lantronix
	332:   "Digi",               // Digi International
	48690: "Teltonika",          // Teltonika
	4413:  "Broadcom",           // Broadcom Limited (the default of many switches built on its chips)

	// Computers, storage and the agents they run.
	2:     "IBM",       // IBM (https://w3.ibm.com/standards )
	19046: "Lenovo",    // Lenovo Enterprise Business Group
	343:   "Intel",     // Intel Corporation
	6876:  "VMware",    // VMware Inc.
	6574:  "Synology",  // Synology Inc.
	24681: "QNAP",      // QNAP SYSTEMS, INC
	55062: "QNAP",      // QNAP Systems, Inc.
	63:    "Apple",     // Apple Computer, Inc.
	236:   "Samsung",   // Samsung Electronics Co., LTD.
	311:   "Microsoft", // Microsoft (the Windows SNMP service)
	8072:  "Net-SNMP",  // net-snmp (its default sysObjectID: a Linux or BSD host, or a device that kept it)
}

// parentheticals that say a name's history or a web address, not the name: dropped from the end.
var notes = []string{"(formerly", "(previous", "(was ", "(http", "(abbr."} // lower case

// suffixes are legal forms dropped from the end of a name, tried longest first so that "Co., Ltd."
// goes whole. They are matched ignoring case, and only after a space or a comma.
var suffixes = longestFirst([]string{
	"GmbH & Co. KGaA", "GmbH & Co. KG", "GmbH & Co KG", "GmbH&Co.KG", "GmbH & Co.", "AG & Co. KG",
	"Public Co., Ltd.", "Public Co.,Ltd", "Co., Ltd.", "Co.,Ltd.", "Co., Ltd", "Co.,Ltd", "Co. Ltd.",
	"Co. Ltd", "Co Ltd", "(Pty) Ltd.", "(Pty) Ltd", "(Pty) Limited", "Pty. Ltd.", "Pty Ltd.", "Pty Ltd", "Pty Limited", "Pvt. Ltd.", "Pvt Ltd",
	"Private Limited", "Pte. Ltd.", "Pte Ltd", "Sdn. Bhd.", "Sdn Bhd", "Sp. z o.o.", "spol. s r.o.",
	"Incorporated", "Corporation", "Limited", "L.L.C.", "S.p.A.", "S.A.S.", "S.r.l.", "s.r.o.",
	"GmbH", "Corp.", "Corp", "Inc.", "Inc", "Ltd.", "Ltd", "LLC", "LLP", "PLC", "S.A.", "SpA",
	"SARL", "SAS", "Srl", "B.V.", "N.V.", "A/S", "ASA", "Oyj", "Oy", "AG", "AB", "AS", "BV", "NV",
	"SA", "KG", "K.K.", "a.s.", "e.K.", "e. K.", "d.o.o.", "s.r.o", "sro",
})

func longestFirst(s []string) []string {
	slices.SortStableFunc(s, func(a, b string) int { return len(b) - len(a) })
	return s
}

// Display shortens a registered name the way people write it: a trailing "(formerly ...)" or web
// address dropped, then legal forms ("Inc.", "Corp.", "Co., Ltd.", "GmbH", "AG", "S.A." ...) and the
// commas before them, white space collapsed. Capitals are left as registered. A name that would be
// left with nothing, or with one character, is kept whole.
func Display(registered string) string {
	s := strings.Join(strings.Fields(registered), " ")
	for {
		cut := s
		if strings.HasSuffix(cut, ")") {
			for _, note := range notes {
				// asciiLower keeps the length, so an index in it is one in cut.
				if i := strings.LastIndex(asciiLower(cut), note); i > 0 {
					cut = strings.TrimRight(cut[:i], " ,")
				}
			}
		}
		for _, suf := range suffixes {
			if len(cut) <= len(suf) || !strings.EqualFold(cut[len(cut)-len(suf):], suf) {
				continue
			}
			before := cut[:len(cut)-len(suf)]
			if r, _ := utf8.DecodeLastRuneInString(before); r != ' ' && r != ',' {
				continue
			}
			cut = strings.TrimRight(before, " ,")
			break
		}
		if utf8.RuneCountInString(cut) < 2 || cut == s {
			return s
		}
		s = cut
	}
}

// asciiLower lowers A-Z only: unlike strings.ToLower it never changes the length of s.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
