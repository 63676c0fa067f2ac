package sim

import (
	"testing"
	"time"

	"github.com/gosnmp/gosnmp"
)

// FuzzRespond feeds arbitrary datagrams to a device: it must never panic
// (handle recovers, but respond itself should not need to) and never answer
// with more than a UDP datagram.
func FuzzRespond(f *testing.F) {
	s, err := Start(f.Context(), Options{N: 1, V3User: testUser, V3AuthPass: testAuthPass, V3PrivPass: testPrivPass})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = s.Close() })
	d := s.devices[0]
	for _, ver := range []gosnmp.SnmpVersion{gosnmp.Version1, gosnmp.Version2c} {
		g := &gosnmp.GoSNMP{Version: ver, Community: "public"}
		for _, pt := range []gosnmp.PDUType{gosnmp.GetRequest, gosnmp.GetNextRequest, gosnmp.GetBulkRequest} {
			b, err := g.SnmpEncodePacket(pt, []gosnmp.SnmpPDU{{Name: ".1.3.6.1.2.1.1", Type: gosnmp.Null}}, 0, 10)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
	v3 := &gosnmp.GoSNMP{
		Version: gosnmp.Version3, SecurityModel: gosnmp.UserSecurityModel, MsgFlags: gosnmp.AuthPriv,
		SecurityParameters: &gosnmp.UsmSecurityParameters{
			UserName: testUser, AuthenticationProtocol: gosnmp.SHA, AuthenticationPassphrase: testAuthPass,
			PrivacyProtocol: gosnmp.AES, PrivacyPassphrase: testPrivPass, AuthoritativeEngineID: d.engineID,
			AuthoritativeEngineBoots: 1, AuthoritativeEngineTime: d.engineTime(),
		},
	}
	if b, err := v3.SnmpEncodePacket(gosnmp.GetRequest, []gosnmp.SnmpPDU{{Name: ".1.3.6.1.2.1.1.1.0", Type: gosnmp.Null}}, 0, 0); err == nil {
		f.Add(b)
	}
	f.Add([]byte{0x30, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		deadline := time.Now().Add(time.Second)
		out := d.respond(b, faultNone)
		if len(out) > maxUDPPayload {
			t.Fatalf("answer of %d bytes", len(out))
		}
		if time.Now().After(deadline) {
			t.Fatal("respond took over a second")
		}
	})
}
