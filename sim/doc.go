// Package sim runs a simulated site of SNMP devices (Start) and Modbus TCP
// devices (StartModbus) on loopback, in process, for tests, benchmarks and
// demos (cmd/edgegw-sim wraps it).
//
// Each device is an SNMP agent on its own UDP socket (or, on a prefix with
// more than SharedAbove devices, all of them on one socket that answers from
// each datagram's destination address: 50,000 devices on 127.77.0.0/16 hold
// one file descriptor), built on gosnmp's
// packet decoding and encoding. It answers GET, GETNEXT, GETBULK and SET in
// v1 (v1 error statuses, noSuchName), v2c (noSuchObject, noSuchInstance,
// endOfMibView) and v3 USM, like a small embedded agent would. A request
// with an unknown community gets no answer. Values are computed when asked:
// there is no ticker per device.
//
// # Identities
//
// Device i is a display (i%3 == 0), a projector (1) or a UPS (2). Its MAC is
// 02:ed:67:xx:xx:xx and its serial SIM-<model>-nnnnnn (six to eight digits):
// each seed owns a block of 131,072 of both, so sites started with seeds that
// differ modulo 128 never share a MAC or a serial. Both are derived from
// Options.Seed and i; its hostname is sim-<kind>-iii.
//
//	kind       model   sysDescr / entPhysicalDescr            sysObjectID                  firmware
//	display    DP55    ACME DisplayPro 55 Firmware 4.2.1       .1.3.6.1.4.1.99999.1.55      4.2.1
//	projector  BX4K    ACME Beam 4K Firmware 2.7.0             .1.3.6.1.4.1.99999.2.4       2.7.0
//	ups        PS1500  ACME PowerSafe 1500 Firmware 1.9.3      .1.3.6.1.4.1.99999.3.15      1.9.3
//
// # Objects served by every device
//
//	.1.3.6.1.2.1.1.1.0            sysDescr        OctetString
//	.1.3.6.1.2.1.1.2.0            sysObjectID     ObjectIdentifier
//	.1.3.6.1.2.1.1.3.0            sysUpTime       TimeTicks, real time from a per-device offset (1 h .. 30 d)
//	.1.3.6.1.2.1.1.4.0            sysContact      OctetString, writable
//	.1.3.6.1.2.1.1.5.0            sysName         OctetString, writable (starts as the hostname)
//	.1.3.6.1.2.1.1.6.0            sysLocation     OctetString, writable
//	.1.3.6.1.2.1.1.7.0            sysServices     Integer 72
//	.1.3.6.1.2.1.2.1.0            ifNumber        Integer 2
//	.1.3.6.1.2.1.2.2.1.C.I        ifTable, I = 1 "lo" softwareLoopback(24) with an empty ifPhysAddress,
//	                              I = 2 "eth0" ethernetCsmacd(6) with the device MAC; columns C:
//	                              1 ifIndex, 2 ifDescr, 3 ifType, 4 ifMtu, 5 ifSpeed (Gauge32),
//	                              6 ifPhysAddress, 7 ifAdminStatus, 8 ifOperStatus,
//	                              10 ifInOctets, 16 ifOutOctets (Counter32, growing)
//	.1.3.6.1.2.1.47.1.1.1.1.C.1   ENTITY-MIB entPhysicalTable, row 1 = the chassis: 2 Descr (model name),
//	                              5 Class (Integer 3, chassis), 7 Name ("Chassis"), 8 HardwareRev,
//	                              9 FirmwareRev, 10 SoftwareRev, 11 SerialNum, 12 MfgName ("ACME"),
//	                              13 ModelName (model code, e.g. "DP55")
//	.1.3.6.1.4.1.99999.K.1.1.0    temperature     Integer, tenths of °C, drifting ±2 °C over 10 min
//	                              (K = 1 display, 2 projector, 3 UPS)
//
// # Objects per kind
//
// Display (K = 1):
//
//	.1.3.6.1.4.1.99999.1.1.2.0    powerState      Integer 1 on, 2 standby; writable
//	.1.3.6.1.4.1.99999.1.1.3.0    inputSource     Integer 1 hdmi1, 2 hdmi2, 3 displayPort, 4 dvi; writable
//	.1.3.6.1.4.1.99999.1.1.4.0    backlight       Integer 0..100 %; writable
//	.1.3.6.1.4.1.99999.1.1.9.0    restart         Integer, reads 0; SET 1 "reboots": sysUpTime restarts
//
// Projector (K = 2):
//
//	.1.3.6.1.4.1.99999.2.1.2.0    powerState      Integer 1 on, 2 standby; writable
//	.1.3.6.1.4.1.99999.2.1.5.0    lampHours       Gauge32, +1 per real minute (accelerated for demos)
//	.1.3.6.1.4.1.99999.2.1.9.0    restart         Integer, reads 0; SET 1 "reboots": sysUpTime restarts
//
// UPS (K = 3), RFC 1628 UPS-MIB:
//
//	.1.3.6.1.2.1.33.1.1.1.0       upsIdentManufacturer            "ACME"
//	.1.3.6.1.2.1.33.1.1.2.0       upsIdentModel                   "PS1500"
//	.1.3.6.1.2.1.33.1.1.3.0       upsIdentUPSSoftwareVersion      "1.9.3"
//	.1.3.6.1.2.1.33.1.1.4.0       upsIdentAgentSoftwareVersion
//	.1.3.6.1.2.1.33.1.1.5.0       upsIdentName                    the hostname
//	.1.3.6.1.2.1.33.1.2.1.0       upsBatteryStatus                Integer 2 batteryNormal
//	.1.3.6.1.2.1.33.1.2.2.0       upsSecondsOnBattery             Integer 0
//	.1.3.6.1.2.1.33.1.2.3.0       upsEstimatedMinutesRemaining    Integer
//	.1.3.6.1.2.1.33.1.2.4.0       upsEstimatedChargeRemaining     Integer 97..100 %
//	.1.3.6.1.2.1.33.1.2.5.0       upsBatteryVoltage               Integer, 0.1 V DC
//	.1.3.6.1.2.1.33.1.2.7.0       upsBatteryTemperature           Integer °C
//	.1.3.6.1.2.1.33.1.3.2.0       upsInputNumLines                Integer 1
//	.1.3.6.1.2.1.33.1.3.3.1.3.1   upsInputVoltage.1               Integer 230 V
//	.1.3.6.1.2.1.33.1.4.1.0       upsOutputSource                 Integer 3 normal
//	.1.3.6.1.2.1.33.1.4.2.0       upsOutputFrequency              Integer 500 (0.1 Hz)
//	.1.3.6.1.2.1.33.1.4.3.0       upsOutputNumLines               Integer 1
//	.1.3.6.1.2.1.33.1.4.4.1.2.1   upsOutputVoltage.1              Integer 230 V
//	.1.3.6.1.2.1.33.1.4.4.1.5.1   upsOutputPercentLoad.1          Integer 25..35 %
//
// # SET
//
// Only the read-write community (default "private") and the v3 users may
// SET. The read-only community gets noAccess (v1: noSuchName), a read-only
// object notWritable, an unknown one noCreation, a wrong ASN.1 type
// wrongType, an out-of-range integer wrongValue and a string over 255 bytes
// wrongLength (v1: noSuchName or badValue, per RFC 3584). A SET is atomic.
//
// # Sizes
//
// Answers are capped at Options.MaxResponseSize (default 1400 bytes) or a
// v3 request's smaller msgMaxSize: GETBULK answers stop early, anything else
// becomes tooBig.
//
// # SNMPv3
//
// With Options.V3User set, users V3User (HMAC-SHA-96 + AES-128) and
// V3User+"256" (HMAC-192-SHA-256 + AES-128) are served at authNoPriv and
// authPriv. Each device has its own engine id, 80 01 86 9f 03 + the MAC
// (RFC 3411 MAC format, enterprise 99999), engine boots 1, and an engine
// time that advances in real seconds from the device's uptime offset.
// Failed checks answer with the Report net-snmp sends: usmStatsUnknownEngineIDs
// (engine discovery), usmStatsUnknownUserNames, usmStatsUnsupportedSecLevels,
// usmStatsWrongDigests and usmStatsDecryptionErrors unauthenticated, and
// usmStatsNotInTimeWindows, authenticated, when the request's engine time is
// more than 150 s off (RFC 3414 3.2.7).
//
// # Faults
//
// Site.SetFault makes one device Silent, Slow, answer Garbage, answer with
// the WrongRequestID, or serve HugeValues, for tests of a hostile agent.
//
// # Modbus TCP devices
//
// StartModbus serves ModbusOptions.N devices, one TCP listener each, with
// MAC 02:ed:68:xx:xx:xx (apart from the SNMP devices') and unit id 1 (255
// too); other unit ids get exception 0B, as behind a TCP gateway. A device
// accepts MaxConns connections at once (default 2) and closes further ones,
// drops a connection on a malformed frame, and closes one idle for two
// minutes. Addresses are 0-based PDU addresses; reads that touch an address
// outside the map get exception 02, out-of-range writes 03.
//
// Even indexes are ACME EM100 energy meters (profile acme-em100). Read Device
// Identification (43/14, codes 1-4, conformity 0x82): VendorName "ACME",
// ProductCode "EM100", MajorMinorRevision "2.1.0", VendorUrl, ProductName
// "EM100 Energy Meter", ModelName "EM100-3P".
//
//	input 0-1      f32 voltage, 230 V ±3        holding 0      ctRatio 1..5000 (100)
//	input 2-3      f32 current, 5 A ±2          holding 1      displayMode 0..2 (1)
//	input 4-5      f32 power = V×I              holding 2-3    i32 powerLimit ±100000 W (FC16 only)
//	input 6-9      u64 energy, Wh, growing      holding 4-5    f32 voltage alarm 0..500 V
//	input 10       i16 temperature, 0.1 °C      holding 8-15   meter name, 16 bytes
//	input 11       u16 frequency, 0.01 Hz       holding 20     reboot: write 1 (uptime restarts)
//	input 12-13    u32 uptime s, low word first holding 100-107 serial; 110-112 MAC (6 bytes)
//	coil 0         relay (writable)             coil 1         resetEnergy: write 1
//	discrete 0     tamper alarm (false)         holes: holding 6-7, 16-19, 21-99, 108-109
//
// Odd indexes are ACME SI3600 inverters (profile sunspec-inverter), without
// function 43 (exception 01): "SunS" at holding 40000, then model 1 (common:
// Mn "ACME", Md "SI3600", Vr "1.4.2", SN, DA 1) at 40002, model 11 (Ethernet,
// the MAC as EUI-48 in four registers) at 40070, model 101 (single-phase
// inverter: current, voltage, power, frequency, energy, DC side, cabinet
// temperature, state MPPT, with scale factors; phases B and C not
// implemented) at 40085, and the end marker at 40137. The map is read-only.
package sim
