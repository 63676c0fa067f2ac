package protocol

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgegw/edgegw/gateway"
)

func env(kind, body string) Envelope {
	return Envelope{Kind: kind, MessageID: "m1", Body: []byte(body)}
}

func TestDecodeCommand(t *testing.T) {
	ok := []struct {
		kind, body string
		want       gateway.Command
	}{
		{KindClaim, `{"schemaVersion":1,"mac":"AA-BB-CC-00-11-22","serial":" SN1 ","group":"Lobby"}`, gateway.ClaimCommand{MAC: "aa:bb:cc:00:11:22", Serial: "SN1", Group: "Lobby"}},
		{KindClaim, `{"schemaVersion":1,"mac":"aabb.cc00.1122","serial":"SN1"}`, gateway.ClaimCommand{MAC: "aa:bb:cc:00:11:22", Serial: "SN1"}},
		// 128 characters, in runes not bytes (as the CLI and the CSV import count them).
		{KindClaim, `{"schemaVersion":1,"mac":"aabbcc001122","serial":"` + strings.Repeat("é", 128) + `","group":"` + strings.Repeat("ü", 128) + `"}`,
			gateway.ClaimCommand{MAC: "aa:bb:cc:00:11:22", Serial: strings.Repeat("é", 128), Group: strings.Repeat("ü", 128)}},
		{KindClaim, `{"schemaVersion":1,"claims":[{"mac":"AA-BB-CC-00-11-22","serial":" SN1 ","group":"Lobby"},{"mac":"aabbcc001123","serial":"SN2"}]}`,
			gateway.ClaimManyCommand{Rows: []gateway.ClaimRow{{Line: 0, MAC: "aa:bb:cc:00:11:22", Serial: "SN1", Group: "Lobby"}, {Line: 1, MAC: "aa:bb:cc:00:11:23", Serial: "SN2"}}}},
		{KindUnclaim, `{"schemaVersion":1,"deviceId":"mac-aabbcc001122"}`, gateway.UnclaimCommand{DeviceID: "mac-aabbcc001122"}},
		{KindUnclaim, `{"schemaVersion":1,"mac":"aabbcc001122"}`, gateway.UnclaimCommand{MAC: "aa:bb:cc:00:11:22"}},
		{KindTwinDesired, `{"schemaVersion":1,"deviceId":"mac-aabbcc001122","$version":3,"desired":{"location":"rack 4","powerState":"on","backlightPercent":80}}`,
			gateway.DesiredCommand{DeviceID: "mac-aabbcc001122", Version: 3, Desired: map[string]gateway.Value{"location": gateway.String("rack 4"), "powerState": gateway.String("on"), "backlightPercent": gateway.Number(80)}}},
		{KindMethod, `{"schemaVersion":1,"deviceId":"mac-aabbcc001122","name":"reboot"}`, gateway.MethodCommand{DeviceID: "mac-aabbcc001122", Name: "reboot"}},
		{KindTwinGet, `{"schemaVersion":1,"deviceId":"snmp-0123456789ab"}`, gateway.TwinGetCommand{DeviceID: "snmp-0123456789ab"}},
		{KindLogsUpload, `{"schemaVersion":1,"maxLines":100}`, gateway.LogsUploadCommand{MaxLines: 100}},
	}
	for _, c := range ok {
		t.Run(c.kind, func(t *testing.T) {
			got, err := DecodeCommand(env(c.kind, c.body))
			require.NoError(t, err)
			require.Equal(t, c.want, got)
			b, err := EncodeCommand(got)
			require.NoError(t, err)
			back, err := DecodeCommand(env(c.kind, string(b)))
			require.NoError(t, err)
			require.Equal(t, got, back, "encode/decode round trip")
		})
	}
	bad := []struct{ kind, body, msg string }{
		{"reboot-everything", `{"schemaVersion":1}`, `unknown command kind "reboot-everything"`},
		{KindClaim, `not json`, "claim: body is not a JSON object"},
		{KindClaim, `{"mac":"aabbcc001122","serial":"x"}`, "claim: body has no schemaVersion"},
		{KindClaim, `{"schemaVersion":2,"mac":"aabbcc001122","serial":"x"}`, "schemaVersion 2 is not supported"},
		{KindClaim, `{"schemaVersion":1,"mac":"ff:ff:ff:ff:ff:ff","serial":"x"}`, "broadcast address"},
		{KindClaim, `{"schemaVersion":1,"mac":"00:00:00:00:00:00","serial":"x"}`, "all zeros"},
		{KindClaim, `{"schemaVersion":1,"mac":"01:00:5e:00:00:01","serial":"x"}`, "multicast"},
		{KindClaim, `{"schemaVersion":1,"mac":"aabbcc","serial":"x"}`, "not a MAC address"},
		{KindClaim, `{"schemaVersion":1,"mac":"aabbcc001122","serial":"  "}`, "claim: serial is empty"},
		{KindClaim, `{"schemaVersion":1,"mac":"aabbcc001122","serial":"SN\u00001"}`, "claim: serial has a control character (U+0000 at byte 2)"},
		{KindClaim, `{"schemaVersion":1,"mac":"aabbcc001122","serial":"SN1\u200b"}`, "claim: serial has an invisible formatting character (U+200B at byte 3)"},
		{KindClaim, `{"schemaVersion":1,"mac":"aabbcc001122","serial":"` + strings.Repeat("s", 129) + `"}`, "claim: serial is longer than 128 characters"},
		{KindClaim, `{"schemaVersion":1,"mac":"aabbcc001122","serial":"x","group":"a\tb"}`, "claim: group has a control character"},
		{KindClaim, `{"schemaVersion":1,"mac":"aabbcc001122","serial":"x","extra":1}`, `unknown field "extra"`},
		{KindUnclaim, `{"schemaVersion":1,"mac":"aabbcc001122","deviceId":"mac-aabbcc001122"}`, "not both"},
		{KindClaim, `{"schemaVersion":1,"mac":"aabbcc001122","serial":"x","claims":[{"mac":"aabbcc001123","serial":"y"}]}`, "not both"},
		{KindClaim, `{"schemaVersion":1,"claims":[]}`, "claims list is empty"},
		{KindClaim, `{"schemaVersion":1,"claims":[{"mac":"aabbcc001123","serial":" "}]}`, "no row of the claims list can be read (1 bad); the first: claims[0]: serial is empty"},
		{KindClaim, `{"schemaVersion":1,"claims":[{"mac":"aabbcc001123"},{"mac":"nope","serial":"y"}]}`, "(2 bad); the first: claims[0]: serial is empty"},
		{KindTwinDesired, `{"schemaVersion":1,"deviceId":"mac-aabbcc001122","$version":0,"desired":{"a":1}}`, "$version must be"},
		{KindTwinDesired, `{"schemaVersion":1,"deviceId":"mac-aabbcc001122","$version":1,"desired":{}}`, "desired is empty"},
		{KindTwinDesired, `{"schemaVersion":1,"deviceId":"mac-aabbcc001122","$version":1,"desired":{"Bad Name":1}}`, "is not a property name"},
		{KindTwinDesired, `{"schemaVersion":1,"deviceId":"mac-aabbcc001122","$version":1,"desired":{"a":[1,2]}}`, "twin-desired"},
		{KindTwinGet, `{"schemaVersion":1,"deviceId":"../../etc/passwd"}`, "is not a device id"},
		{KindTwinGet, `{"schemaVersion":1}`, "deviceId is missing"},
		{KindMethod, `{"schemaVersion":1,"deviceId":"mac-aabbcc001122","name":"rm -rf"}`, "is not a method name"},
		{KindLogsUpload, `{"schemaVersion":1,"maxLines":-1}`, "maxLines"},
		{KindTwinGet, `{"schemaVersion":1,"deviceId":"mac-aabbcc001122","pad":"` + strings.Repeat("x", MaxCommandBytes) + `"}`, "more than the 65536 allowed"},
	}
	for _, c := range bad {
		t.Run("bad "+c.msg, func(t *testing.T) {
			_, err := DecodeCommand(env(c.kind, c.body))
			require.Error(t, err)
			var ce *CommandError
			require.True(t, errors.As(err, &ce))
			require.Contains(t, err.Error(), c.msg)
		})
	}
	_, err := DecodeCommand(Envelope{Kind: KindTwinGet, DeviceID: "mac-000000000001", Body: []byte(`{"schemaVersion":1,"deviceId":"mac-aabbcc001122"}`)})
	require.ErrorContains(t, err, "differ")
}

// TestBulkClaimWithBadRows: a bad row of a bulk claim is reported in its place and skipped, as a bad
// line of a CSV import is; the good rows keep their places (Line) and are carried out.
func TestBulkClaimWithBadRows(t *testing.T) {
	long := strings.Repeat("z", 200)
	got, err := DecodeCommand(env(KindClaim, `{"schemaVersion":1,"claims":[{"mac":"ff:ff:ff:ff:ff:ff","serial":"y"},`+
		`{"mac":"aabbcc001123","serial":"SN2"},{"mac":"`+long+`","serial":"y"},{"mac":"aabbcc001124","serial":"SN4","group":"`+long+`"},`+
		`{"mac":"aabbcc001125","serial":"SN5"}]}`))
	require.NoError(t, err)
	c := got.(gateway.ClaimManyCommand)
	require.Equal(t, []gateway.ClaimRow{{Line: 1, MAC: "aa:bb:cc:00:11:23", Serial: "SN2"}, {Line: 4, MAC: "aa:bb:cc:00:11:25", Serial: "SN5"}}, c.Rows)
	require.Len(t, c.Bad, 3)
	require.Equal(t, gateway.BadClaimRow{MAC: "ff:ff:ff:ff:ff:ff", Error: "claims[0]: mac ff:ff:ff:ff:ff:ff is the broadcast address"}, c.Bad[0])
	require.Contains(t, c.Bad[2].Error, "claims[2]: mac ")
	require.Less(t, len(c.Bad[2].MAC), 80, "what was sent is cut short")
	require.Less(t, len(c.Bad[2].Error), 150)
	require.Equal(t, "claims[3]: group is longer than 128 characters", c.Bad[3].Error)
}

func TestEnvelopeAMQPRoundTrip(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	e := Envelope{Kind: KindTwinReported, GatewayID: "gw", DeviceID: "mac-aabbcc001122", MessageID: "id-1", Created: now, Body: []byte(`{"a":1}`)}
	m := e.AMQP()
	require.Equal(t, "gw", m.ApplicationProperties[PropGatewayID])
	require.Equal(t, "mac-aabbcc001122", m.ApplicationProperties[PropDeviceID])
	require.Equal(t, KindTwinReported, m.ApplicationProperties[PropKind])
	require.Equal(t, ContentType, *m.Properties.ContentType)
	back, err := FromAMQP(m)
	require.NoError(t, err)
	require.Equal(t, e, back)

	gwLevel := Envelope{Kind: KindHealth, GatewayID: "gw", MessageID: "id-2", Created: now, Body: []byte(`{}`)}
	_, has := gwLevel.AMQP().ApplicationProperties[PropDeviceID]
	require.False(t, has, "gateway-level messages carry no device-id")
}

func TestReply(t *testing.T) {
	cmd := Envelope{Kind: KindTwinGet, MessageID: "cmd-7", DeviceID: "mac-aabbcc001122"}
	r := Reply(cmd, "gw", "r-1", time.Now(), map[string]int{"x": 1}, nil)
	require.Equal(t, "twin-get-result", r.Kind)
	require.Equal(t, "cmd-7", r.CorrelationID)
	var res Result
	require.NoError(t, json.Unmarshal(r.Body, &res))
	require.True(t, res.OK)
	require.JSONEq(t, `{"x":1}`, string(res.Result))
	r = Reply(cmd, "gw", "r-2", time.Now(), nil, errors.New("no such device"))
	require.NoError(t, json.Unmarshal(r.Body, &res))
	require.False(t, res.OK)
	require.Equal(t, "no such device", res.Error)
}

// FuzzDecodeCommand: the down-link decoder never panics, and whatever it accepts encodes and decodes to
// the same command.
func FuzzDecodeCommand(f *testing.F) {
	for _, k := range []string{KindClaim, KindUnclaim, KindTwinDesired, KindMethod, KindTwinGet, KindLogsUpload, "x"} {
		f.Add(k, `{"schemaVersion":1,"mac":"aabbcc001122","serial":"s","deviceId":"mac-aabbcc001122","$version":1,"desired":{"a":1},"name":"reboot"}`)
	}
	f.Add(KindTwinDesired, `{"schemaVersion":1,"deviceId":"mac-aabbcc001122","$version":9,"desired":{"powerState":"on","x[1.2]":true}}`)
	f.Fuzz(func(t *testing.T, kind, body string) {
		cmd, err := DecodeCommand(Envelope{Kind: kind, Body: []byte(body)})
		if err != nil {
			var ce *CommandError
			if !errors.As(err, &ce) {
				t.Fatalf("not a CommandError: %v", err)
			}
			return
		}
		b, err := EncodeCommand(cmd)
		if err != nil {
			t.Fatal(err)
		}
		back, err := DecodeCommand(Envelope{Kind: kind, Body: b})
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if cmd.Kind() != back.Kind() {
			t.Fatalf("kind changed")
		}
	})
}
