package uplink

import (
	"context"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/Azure/go-amqp"
	"github.com/stretchr/testify/require"

	"github.com/edgegw/edgegw/gateway/store"
	"github.com/edgegw/edgegw/uplink/outbox"
	"github.com/edgegw/edgegw/uplink/protocol"
)

// TestEveryReplyCorrelates walks every error path of the down-link's command decoder (the envelope's
// properties, then each kind's body) with the message-id written in each of AMQP's four id types, and
// checks the one reply each command gets: ok:false, an error that says what is wrong, and the
// command's message-id as correlation-id, also when the envelope itself is what is wrong (a command
// without a kind used to get an error-result that the cloud could not match). The error texts the
// walk met are held against every error the decoder's source can return, so a new error path without
// a case here fails the test.
func TestEveryReplyCorrelates(t *testing.T) {
	db, err := store.Open(t.TempDir(), nil)
	require.NoError(t, err)
	defer db.Close()
	ob, err := outbox.Open(db, outbox.Options{})
	require.NoError(t, err)
	defer ob.Close()
	u, err := New(Config{GatewayID: "gw-test", UpAddress: "/queue/up", DownAddress: "/queue/down"}, Options{Outbox: ob, Handler: fakeHandler{}})
	require.NoError(t, err)

	const dev = "mac-aabbcc001122"
	msg := func(props map[string]any, body string) *amqp.Message {
		m := amqp.NewMessage([]byte(body))
		m.ApplicationProperties = props
		return m
	}
	kind := func(k string) map[string]any {
		return map[string]any{protocol.PropKind: k, protocol.PropGatewayID: "gw-test"}
	}
	with := func(p map[string]any, k string, v any) map[string]any { p[k] = v; return p }
	sv := `"schemaVersion":1`
	cases := []struct {
		name    string
		m       *amqp.Message
		kind    string // the reply's kind
		wantErr string
	}{
		// The envelope.
		{"no application properties", msg(nil, `{`+sv+`}`), "error-result", "no kind application property"},
		{"kind not a string", msg(map[string]any{protocol.PropKind: int64(7)}, `{`+sv+`}`), "error-result", "application property kind is int64, not a string"},
		{"empty kind", msg(kind(""), `{`+sv+`}`), "error-result", "no kind application property"},
		{"gateway-id not a string", msg(with(kind("twin-get"), protocol.PropGatewayID, true), `{`+sv+`}`), "twin-get-result", "application property gateway-id is bool"},
		{"device-id not a string", msg(with(kind("twin-get"), protocol.PropDeviceID, 1.5), `{`+sv+`}`), "twin-get-result", "application property device-id is float64"},
		{"another gateway", msg(with(kind("twin-get"), protocol.PropGatewayID, "gw-other"), `{`+sv+`,"deviceId":"`+dev+`"}`), "twin-get-result", `command for gateway "gw-other" reached gateway "gw-test"`},
		{"kind too long", msg(kind(strings.Repeat("k", 40)), `{`+sv+`}`), "error-result", "unknown command kind"},
		{"unknown kind", msg(kind("format-disk"), `{`+sv+`}`), "format-disk-result", `unknown command kind "format-disk"`},
		// Any body.
		{"body too big", msg(kind("twin-get"), `{"pad":"`+strings.Repeat("x", protocol.MaxCommandBytes)+`"}`), "twin-get-result", "more than the 65536 allowed"},
		{"body not UTF-8", msg(kind("twin-get"), "{\xff}"), "twin-get-result", "body is not UTF-8 JSON"},
		{"body not JSON", msg(kind("claim"), `{{{`), "claim-result", "claim: body is not a JSON object"},
		{"no schemaVersion", msg(kind("claim"), `{}`), "claim-result", "claim: body has no schemaVersion"},
		{"newer schemaVersion", msg(kind("claim"), `{"schemaVersion":2}`), "claim-result", "schemaVersion 2 is not supported"},
		{"unknown field", msg(kind("twin-get"), `{`+sv+`,"deviceId":"`+dev+`","x":1}`), "twin-get-result", `unknown field "x"`},
		// Each kind.
		{"claim bad mac", msg(kind("claim"), `{`+sv+`,"mac":"aabbcc","serial":"s"}`), "claim-result", `claim: mac "aabbcc" is not a MAC address`},
		{"claim no serial", msg(kind("claim"), `{`+sv+`,"mac":"aabbcc001122","serial":" "}`), "claim-result", "claim: serial is empty"},
		{"claim long group", msg(kind("claim"), `{`+sv+`,"mac":"aabbcc001122","serial":"s","group":"`+strings.Repeat("g", 129)+`"}`), "claim-result", "claim: group is longer than 128 characters"},
		{"claim both", msg(kind("claim"), `{`+sv+`,"mac":"aabbcc001122","serial":"s","claims":[{"mac":"aabbcc001123","serial":"t"}]}`), "claim-result", "claim: give mac and serial, or a claims list, not both"},
		{"claims empty", msg(kind("claim"), `{`+sv+`,"claims":[]}`), "claim-result", "claim: the claims list is empty"},
		// A bulk claim's bad rows are answered row by row (the good ones carried out); only a list with
		// no good row is refused whole, naming the first bad one.
		{"claims bad mac", msg(kind("claim"), `{`+sv+`,"claims":[{"mac":"aabbcc","serial":"s"},{"mac":"aabbcc0011","serial":"s"}]}`), "claim-result", `claim: no row of the claims list can be read (2 bad); the first: claims[0]: mac "aabbcc" is not a MAC address`},
		{"claims no serial", msg(kind("claim"), `{`+sv+`,"claims":[{"mac":"aabbcc001122","serial":""}]}`), "claim-result", "claim: no row of the claims list can be read (1 bad); the first: claims[0]: serial is empty"},
		{"claims long group", msg(kind("claim"), `{`+sv+`,"claims":[{"mac":"aabbcc001122","serial":"s","group":"`+strings.Repeat("g", 129)+`"}]}`), "claim-result", "claim: no row of the claims list can be read (1 bad); the first: claims[0]: group is longer than 128 characters"},
		{"unclaim both", msg(kind("unclaim"), `{`+sv+`,"mac":"aabbcc001122","deviceId":"`+dev+`"}`), "unclaim-result", "unclaim: give mac or deviceId, not both"},
		{"unclaim bad mac", msg(kind("unclaim"), `{`+sv+`,"mac":"ff:ff:ff:ff:ff:ff"}`), "unclaim-result", "unclaim: mac"},
		{"unclaim nothing", msg(kind("unclaim"), `{`+sv+`}`), "unclaim-result", "unclaim: deviceId is missing"},
		{"desired bad device", msg(kind("twin-desired"), `{`+sv+`,"deviceId":"../x","$version":1,"desired":{"a":1}}`), "twin-desired-result", `twin-desired: deviceId "../x" is not a device id`},
		{"desired device-id differs", msg(with(kind("twin-desired"), protocol.PropDeviceID, "mac-000000000001"), `{`+sv+`,"deviceId":"`+dev+`","$version":1,"desired":{"a":1}}`), "twin-desired-result", "the device-id property"},
		{"desired version", msg(kind("twin-desired"), `{`+sv+`,"deviceId":"`+dev+`","$version":0,"desired":{"a":1}}`), "twin-desired-result", "twin-desired: $version must be a positive integer"},
		{"desired empty", msg(kind("twin-desired"), `{`+sv+`,"deviceId":"`+dev+`","$version":1,"desired":{}}`), "twin-desired-result", "twin-desired: desired is empty"},
		{"desired bad name", msg(kind("twin-desired"), `{`+sv+`,"deviceId":"`+dev+`","$version":1,"desired":{"Bad Name":1}}`), "twin-desired-result", `twin-desired: "Bad Name" is not a property name`},
		{"method bad name", msg(kind("method"), `{`+sv+`,"deviceId":"`+dev+`","name":"rm -rf"}`), "method-result", `method: "rm -rf" is not a method name`},
		{"method no device", msg(kind("method"), `{`+sv+`,"name":"reboot"}`), "method-result", "method: deviceId is missing"},
		{"twin-get no device", msg(kind("twin-get"), `{`+sv+`}`), "twin-get-result", "twin-get: deviceId is missing"},
		{"logs maxLines", msg(kind("logs-upload"), `{`+sv+`,"maxLines":-1}`), "logs-upload-result", "logs-upload: maxLines must be 0 to 100000"},
		// Carried out, and refused by the gateway.
		{"handler refuses", msg(kind("twin-get"), `{`+sv+`,"deviceId":"mac-000000000009"}`), "twin-get-result", "no such device"},
	}
	ids := []struct {
		id   any
		text string
	}{
		{"cmd-1", "cmd-1"}, {amqp.UUID{1, 2, 3}, amqp.UUID{1, 2, 3}.String()}, {[]byte{0xca, 0xfe}, "cafe"}, {uint64(42), "42"},
	}
	var texts []string
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			id := ids[i%len(ids)]
			c.m.Properties = &amqp.MessageProperties{MessageID: id.id}
			reply := u.answer(context.Background(), c.m)
			require.Equal(t, id.text, reply.CorrelationID, "the reply names the command it answers")
			require.Equal(t, c.kind, reply.Kind)
			require.Equal(t, "gw-test", reply.GatewayID)
			require.NotEmpty(t, reply.MessageID)
			var r protocol.Result
			require.NoError(t, json.Unmarshal(reply.Body, &r))
			require.False(t, r.OK)
			require.Contains(t, r.Error, c.wantErr)
			texts = append(texts, r.Error)
		})
	}
	// A command without a message-id cannot be matched, but is still answered, and says why.
	reply := u.answer(context.Background(), msg(kind("twin-get"), `{`+sv+`,"deviceId":"`+dev+`"}`))
	require.Empty(t, reply.CorrelationID)
	require.Contains(t, string(reply.Body), "no message-id")
	texts = append(texts, string(reply.Body))
	reply = u.answer(context.Background(), nil)
	require.Equal(t, "error-result", reply.Kind)
	texts = append(texts, string(reply.Body))

	// Every error the decoder can return was met above.
	for _, f := range decoderErrors(t) {
		re := formatRE(f)
		hit := false
		for _, txt := range texts {
			if re.MatchString(txt) {
				hit = true
				break
			}
		}
		require.True(t, hit, "no case meets the decoder's error %q: add one", f)
	}
}

// decoderErrors lists the format strings of every error the command decoder's source returns: calls to
// bad, errors.New and fmt.Errorf inside protocol.FromAMQP, protocol.DecodeCommand and this package's
// answer.
func decoderErrors(t *testing.T) []string {
	var out []string
	for file, funcs := range map[string][]string{"protocol/protocol.go": {"FromAMQP", "DecodeCommand"}, "uplink.go": {"answer"}} {
		f, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
		require.NoError(t, err)
		found := 0
		for _, d := range f.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok || !contains(funcs, fd.Name.Name) {
				continue
			}
			found++
			ast.Inspect(fd, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok || len(call.Args) == 0 {
					return true
				}
				name := ""
				switch fn := call.Fun.(type) {
				case *ast.Ident:
					name = fn.Name
				case *ast.SelectorExpr:
					if x, ok := fn.X.(*ast.Ident); ok {
						name = x.Name + "." + fn.Sel.Name
					}
				}
				if name != "bad" && name != "errors.New" && name != "fmt.Errorf" {
					return true
				}
				if lit, ok := call.Args[0].(*ast.BasicLit); ok && lit.Kind == token.STRING {
					s, err := strconv.Unquote(lit.Value)
					require.NoError(t, err)
					out = append(out, s)
				}
				return true
			})
		}
		require.Equal(t, len(funcs), found, "%s: functions %v", file, funcs)
	}
	require.Greater(t, len(out), 20)
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// formatRE turns a printf format into a regexp matching what it prints.
func formatRE(format string) *regexp.Regexp {
	verb := regexp.MustCompile(`%[-+# 0-9.]*[a-zA-Z]`)
	parts := verb.Split(format, -1)
	for i, p := range parts {
		parts[i] = regexp.QuoteMeta(p)
	}
	return regexp.MustCompile(strings.Join(parts, `.*`))
}
