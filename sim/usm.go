package sim

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // HMAC-SHA-96 is what USM's SHA protocol is
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"sync"
	"time"

	"github.com/gosnmp/gosnmp"
)

// timeWindow is RFC 3414's 150 s: a request whose engine time is further
// off than this gets a notInTimeWindow Report.
const timeWindow = 150

// usmUser is one USM user the site serves.
type usmUser struct {
	name     string
	auth     gosnmp.SnmpV3AuthProtocol
	priv     gosnmp.SnmpV3PrivProtocol
	authPass string
	privPass string
	macLen   int
}

// usmKeys are a user's keys localized to one device's engine id.
type usmKeys struct {
	once       sync.Once
	auth, priv []byte
	err        error
}

func makeUsers(user, authPass, privPass string) ([]usmUser, error) {
	if user == "" {
		return nil, nil
	}
	if len(authPass) < 8 {
		return nil, errors.New("sim: v3 auth passphrase must have at least 8 characters")
	}
	priv := gosnmp.NoPriv
	if privPass != "" {
		if len(privPass) < 8 {
			return nil, errors.New("sim: v3 priv passphrase must have at least 8 characters")
		}
		priv = gosnmp.AES
	}
	return []usmUser{
		{name: user, auth: gosnmp.SHA, priv: priv, authPass: authPass, privPass: privPass, macLen: 12},
		{name: user + "256", auth: gosnmp.SHA256, priv: priv, authPass: authPass, privPass: privPass, macLen: 24},
	}, nil
}

func (u *usmUser) digest(key, msg []byte) []byte {
	var h hash.Hash
	if u.auth == gosnmp.SHA256 {
		h = hmac.New(sha256.New, key)
	} else {
		h = hmac.New(sha1.New, key)
	}
	h.Write(msg)
	return h.Sum(nil)[:u.macLen]
}

// userKeys localizes user i's keys to the device's engine id once, with
// gosnmp's key localization (its password hash cache makes this cheap after
// the first device).
func (d *device) userKeys(i int) *usmKeys {
	k := &d.keys[i]
	k.once.Do(func() {
		u := &d.site.users[i]
		sp := &gosnmp.UsmSecurityParameters{
			AuthoritativeEngineID:    d.engineID,
			AuthenticationProtocol:   u.auth,
			AuthenticationPassphrase: u.authPass,
			PrivacyProtocol:          u.priv,
			PrivacyPassphrase:        u.privPass,
		}
		k.err = sp.InitSecurityKeys()
		k.auth, k.priv = sp.SecretKey, sp.PrivacyKey
	})
	return k
}

// USM statistics (RFC 3414 usmStats), in OID order.
const (
	statUnsupportedSecLevels = iota
	statNotInTimeWindows
	statUnknownUserNames
	statUnknownEngineIDs
	statWrongDigests
	statDecryptionErrors
	usmStatCount
)

const (
	flagAuth       = 0x01
	flagPriv       = 0x02
	flagReportable = 0x04
)

func (d *device) engineTime() uint32 {
	return uint32((d.uptimeOffset + d.elapsed()) / time.Second)
}

// respondV3 runs RFC 3414's incoming-message checks in order (engine id,
// user, security level, digest, time window, decryption), answering a
// failed check with the Report net-snmp would send, then processes the PDU.
func (d *device) respondV3(raw []byte, mode faultMode) []byte {
	s := d.site
	h, err := parseV3(raw)
	if err != nil || h.secModel != int(gosnmp.UserSecurityModel) || h.flags&(flagAuth|flagPriv) == flagPriv {
		s.malformed.Add(1)
		return nil
	}
	if h.engineID != d.engineID {
		// Engine discovery (empty id) or a stale id: tell the engine id,
		// boots and time.
		reqID, _ := plainRequest(h)
		return d.report(h, statUnknownEngineIDs, reqID, -1)
	}
	ui := -1
	for i := range s.users {
		if s.users[i].name == h.user {
			ui = i
		}
	}
	if ui < 0 {
		reqID, _ := plainRequest(h)
		return d.report(h, statUnknownUserNames, reqID, -1)
	}
	u := &s.users[ui]
	if h.flags&flagAuth == 0 || (h.flags&flagPriv != 0 && u.priv == gosnmp.NoPriv) {
		reqID, _ := plainRequest(h)
		return d.report(h, statUnsupportedSecLevels, reqID, -1)
	}
	keys := d.userKeys(ui)
	if keys.err != nil {
		s.log.Debug("snmp v3 key localization failed", "target", d.info.Addr.String(), "err", keys.err)
		s.dropped.Add(1)
		return nil
	}
	zeroed := bytes.Clone(raw)
	clear(zeroed[h.authOff : h.authOff+len(h.authParams)])
	if len(h.authParams) != u.macLen || !hmac.Equal(u.digest(keys.auth, zeroed), h.authParams) {
		return d.report(h, statWrongDigests, 0, -1)
	}

	// Authentic. gosnmp decrypts and decodes the scoped PDU.
	lvl := gosnmp.SnmpV3MsgFlags(h.flags & (flagAuth | flagPriv))
	x := &gosnmp.GoSNMP{
		Version:       gosnmp.Version3,
		SecurityModel: gosnmp.UserSecurityModel,
		MsgFlags:      lvl,
		SecurityParameters: &gosnmp.UsmSecurityParameters{
			UserName:               u.name,
			AuthoritativeEngineID:  d.engineID,
			AuthenticationProtocol: u.auth,
			PrivacyProtocol:        u.priv,
			SecretKey:              keys.auth,
			PrivacyKey:             keys.priv,
		},
	}
	pkt, decErr := x.SnmpDecodePacket(bytes.Clone(raw))
	var reqID uint32
	if decErr == nil {
		reqID = pkt.RequestID
	}
	et := int64(d.engineTime())
	if h.boots != int64(d.boots) || h.time < et-timeWindow || h.time > et+timeWindow {
		return d.report(h, statNotInTimeWindows, reqID, ui)
	}
	if decErr != nil {
		if lvl&gosnmp.AuthPriv == gosnmp.AuthPriv {
			return d.report(h, statDecryptionErrors, 0, -1)
		}
		s.malformed.Add(1)
		return nil
	}

	limit := min(s.maxResp, h.maxSize)
	if mode == faultHuge {
		limit = min(maxUDPPayload, h.maxSize)
	}
	r := request{
		pduType: pkt.PDUType, vars: pkt.Variables,
		nonRep: int(pkt.NonRepeaters), maxRep: int(pkt.MaxRepetitions),
		canWrite: true,
		budget:   limit - 120 - len(u.name) - 2*len(d.engineID) - len(pkt.ContextName),
	}
	res, ok := d.process(r)
	if !ok {
		s.malformed.Add(1)
		return nil
	}
	if mode == faultWrongRequestID {
		reqID++
	}
	respTime := uint32(et)
	return d.fit(r, res, limit, func(res result) ([]byte, error) {
		sp := &gosnmp.UsmSecurityParameters{
			AuthoritativeEngineID:    d.engineID,
			AuthoritativeEngineBoots: d.boots,
			AuthoritativeEngineTime:  respTime,
			UserName:                 u.name,
			AuthenticationProtocol:   u.auth,
			SecretKey:                keys.auth,
		}
		if lvl&gosnmp.AuthPriv == gosnmp.AuthPriv {
			sp.PrivacyProtocol = u.priv
			sp.PrivacyKey = keys.priv
			sp.PrivacyParameters = binary.BigEndian.AppendUint64(nil, d.salt.Add(1))
		}
		out := &gosnmp.SnmpPacket{
			Version: gosnmp.Version3, MsgFlags: lvl, SecurityModel: gosnmp.UserSecurityModel,
			SecurityParameters: sp, MsgID: h.msgID, MsgMaxSize: maxUDPPayload,
			ContextEngineID: d.engineID, ContextName: pkt.ContextName,
			PDUType: gosnmp.GetResponse, RequestID: reqID,
			Error: res.status, ErrorIndex: uint8(min(res.index, 255)), Variables: res.vars,
		}
		return out.MarshalMsg()
	})
}

// report builds a Report PDU carrying usmStats counter stat, unauthenticated
// or, when user >= 0 (notInTimeWindow), authenticated as that user so the
// client can trust the engine time in it. Messages without the reportable
// flag get no answer.
func (d *device) report(h *v3Header, stat int, reqID uint32, user int) []byte {
	n := d.usmStats[stat].Add(1)
	if h.flags&flagReportable == 0 {
		d.site.dropped.Add(1)
		return nil
	}
	sp := &gosnmp.UsmSecurityParameters{
		AuthoritativeEngineID:    d.engineID,
		AuthoritativeEngineBoots: d.boots,
		AuthoritativeEngineTime:  d.engineTime(),
		UserName:                 h.user,
	}
	flags := gosnmp.NoAuthNoPriv
	if user >= 0 {
		u := &d.site.users[user]
		flags = gosnmp.AuthNoPriv
		sp.AuthenticationProtocol = u.auth
		sp.SecretKey = d.userKeys(user).auth
	}
	pkt := &gosnmp.SnmpPacket{
		Version: gosnmp.Version3, MsgFlags: flags, SecurityModel: gosnmp.UserSecurityModel,
		SecurityParameters: sp, MsgID: h.msgID, MsgMaxSize: maxUDPPayload,
		ContextEngineID: d.engineID, PDUType: gosnmp.Report, RequestID: reqID,
		Variables: []gosnmp.SnmpPDU{{
			Name: fmt.Sprintf(".1.3.6.1.6.3.15.1.1.%d.0", stat+1), Type: gosnmp.Counter32, Value: n,
		}},
	}
	out, err := pkt.MarshalMsg()
	if err != nil {
		d.site.log.Debug("snmp report marshal failed", "target", d.info.Addr.String(), "err", err)
		return nil
	}
	d.site.reports.Add(1)
	return out
}

// v3Header is the clear-text part of an SNMPv3 message (RFC 3412 6, RFC
// 3414 2.4). gosnmp parses it only together with authentication and
// decryption, so the agent reads it itself to decide which Report applies.
type v3Header struct {
	msgID      uint32
	maxSize    int
	flags      byte
	secModel   int
	engineID   string
	boots      int64
	time       int64
	user       string
	authParams []byte
	authOff    int    // offset of authParams in the message
	scoped     []byte // plaintext scoped PDU (SEQUENCE) or encrypted (OCTET STRING) TLV
}

var errBER = errors.New("malformed BER")

// tlv reads the definite-length TLV at b[off:]: its tag and value bounds.
func tlv(b []byte, off int) (tag byte, vs, ve int, err error) {
	if off < 0 || off+2 > len(b) {
		return 0, 0, 0, errBER
	}
	tag = b[off]
	l := int(b[off+1])
	p := off + 2
	if l&0x80 != 0 {
		n := l & 0x7f
		if n == 0 || n > 3 || p+n > len(b) {
			return 0, 0, 0, errBER
		}
		l = 0
		for i := range n {
			l = l<<8 | int(b[p+i])
		}
		p += n
	}
	if p+l > len(b) {
		return 0, 0, 0, errBER
	}
	return tag, p, p + l, nil
}

// expect reads a TLV with the given tag.
func expect(b []byte, off int, want byte) (vs, ve int, err error) {
	tag, vs, ve, err := tlv(b, off)
	if err == nil && tag != want {
		err = errBER
	}
	return vs, ve, err
}

func berInt(v []byte) (int64, error) {
	if len(v) == 0 || len(v) > 8 {
		return 0, errBER
	}
	n := int64(int8(v[0]))
	for _, c := range v[1:] {
		n = n<<8 | int64(c)
	}
	return n, nil
}

func readInt(b []byte, off int) (int64, int, error) {
	vs, ve, err := expect(b, off, 0x02)
	if err != nil {
		return 0, 0, err
	}
	n, err := berInt(b[vs:ve])
	return n, ve, err
}

// peekVersion returns an SNMP message's version field (0 v1, 1 v2c, 3 v3).
func peekVersion(raw []byte) (int64, error) {
	vs, ve, err := expect(raw, 0, 0x30)
	if err != nil || ve != len(raw) {
		return 0, errBER
	}
	v, _, err := readInt(raw, vs)
	return v, err
}

func parseV3(raw []byte) (*v3Header, error) {
	var h v3Header
	vs, _, err := expect(raw, 0, 0x30)
	if err != nil {
		return nil, err
	}
	_, off, err := readInt(raw, vs) // msgVersion
	if err != nil {
		return nil, err
	}
	// msgGlobalData
	gs, ge, err := expect(raw, off, 0x30)
	if err != nil {
		return nil, err
	}
	msgID, p, err := readInt(raw[:ge], gs)
	if err != nil {
		return nil, err
	}
	maxSize, p, err := readInt(raw[:ge], p)
	if err != nil {
		return nil, err
	}
	fs, fe, err := expect(raw[:ge], p, 0x04)
	if err != nil || fe-fs != 1 {
		return nil, errBER
	}
	secModel, _, err := readInt(raw[:ge], fe)
	if err != nil {
		return nil, err
	}
	if msgID < 0 || msgID > 0x7fffffff || maxSize < 484 {
		return nil, errBER
	}
	h.msgID, h.maxSize, h.flags, h.secModel = uint32(msgID), int(min(maxSize, maxUDPPayload)), raw[fs], int(secModel)
	// msgSecurityParameters: OCTET STRING wrapping the USM SEQUENCE
	ss, se, err := expect(raw, ge, 0x04)
	if err != nil {
		return nil, err
	}
	sec := raw[:se]
	us, _, err := expect(sec, ss, 0x30)
	if err != nil {
		return nil, err
	}
	es, ee, err := expect(sec, us, 0x04)
	if err != nil || ee-es > 32 {
		return nil, errBER
	}
	h.engineID = string(sec[es:ee])
	if h.boots, p, err = readInt(sec, ee); err != nil {
		return nil, err
	}
	if h.time, p, err = readInt(sec, p); err != nil {
		return nil, err
	}
	ns, ne, err := expect(sec, p, 0x04)
	if err != nil || ne-ns > 32 {
		return nil, errBER
	}
	h.user = string(sec[ns:ne])
	as, ae, err := expect(sec, ne, 0x04)
	if err != nil {
		return nil, err
	}
	h.authParams, h.authOff = sec[as:ae], as
	if _, _, err = expect(sec, ae, 0x04); err != nil { // msgPrivacyParameters
		return nil, err
	}
	tag, _, pe, err := tlv(raw, se)
	if err != nil || (tag != 0x30 && tag != 0x04) || pe != len(raw) {
		return nil, errBER
	}
	h.scoped = raw[se:pe]
	return &h, nil
}

// plainRequest reads the request-id (and context name) of a plaintext
// scoped PDU, for Reports sent before decryption; 0 when it is encrypted.
func plainRequest(h *v3Header) (uint32, string) {
	b := h.scoped
	vs, _, err := expect(b, 0, 0x30)
	if err != nil {
		return 0, ""
	}
	_, ce, err := expect(b, vs, 0x04) // contextEngineID
	if err != nil {
		return 0, ""
	}
	ns, ne, err := expect(b, ce, 0x04) // contextName
	if err != nil {
		return 0, ""
	}
	_, ps, _, err := tlv(b, ne) // the PDU
	if err != nil {
		return 0, ""
	}
	id, _, err := readInt(b, ps)
	if err != nil || id < 0 || id > 0x7fffffff {
		return 0, ""
	}
	return uint32(id), string(b[ns:ne])
}
