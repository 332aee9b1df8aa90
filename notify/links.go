package notify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Action is what a one-click link does.
type Action string

// One-click actions.
const (
	ActionAcknowledge Action = "acknowledge"
	ActionResolve     Action = "resolve"
)

// Link verification errors. ErrLinkExpired is separate so that the API can
// tell the user to use a fresher message rather than suspect tampering.
var (
	ErrLinkInvalid = errors.New("invalid or tampered link")
	ErrLinkExpired = errors.New("link expired")
)

// MinSignerKey is the shortest key NewSigner accepts (256 bits).
const MinSignerKey = 32

// tokenVersion is signed with the rest, so a future format cannot be
// confused with this one.
const tokenVersion = "v1"

// Signer makes and checks the signed, expiring tokens of one-click
// acknowledge and resolve links. A token carries the incident, the action
// and the expiry in clear text and an HMAC-SHA256 over them, so the API
// needs no state to check one; anyone holding a link can use it until it
// expires, as with PagerDuty's and GoAlert's links, so expiries should be
// short (hours).
type Signer struct {
	key  []byte
	prev [][]byte
}

// NewSigner returns a signer that signs with key and also accepts tokens
// signed with any of previous, so that keys can be rotated without breaking
// links already sent.
func NewSigner(key []byte, previous ...[]byte) (*Signer, error) {
	for _, k := range append([][]byte{key}, previous...) {
		if len(k) < MinSignerKey {
			return nil, fmt.Errorf("link signing key too short: %d bytes, want at least %d", len(k), MinSignerKey)
		}
	}
	return &Signer{key: key, prev: previous}, nil
}

// Token signs (incident, action, expiry) into a URL-safe token.
func (s *Signer) Token(incident string, action Action, expiry time.Time) string {
	payload := tokenVersion + "." + string(action) + "." + strconv.FormatInt(expiry.Unix(), 10) + "." + incident
	enc := base64.RawURLEncoding
	return enc.EncodeToString([]byte(payload)) + "." + enc.EncodeToString(mac(s.key, payload))
}

// Link returns base with the token added as the query parameter "token".
func (s *Signer) Link(base, incident string, action Action, expiry time.Time) string {
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	return base + sep + "token=" + s.Token(incident, action, expiry)
}

// Verify checks a token at time now and returns what it allows.
func (s *Signer) Verify(token string, now time.Time) (incident string, action Action, err error) {
	enc := base64.RawURLEncoding
	p, sig, ok := strings.Cut(token, ".")
	if !ok {
		return "", "", ErrLinkInvalid
	}
	raw, err1 := enc.DecodeString(p)
	got, err2 := enc.DecodeString(sig)
	if err1 != nil || err2 != nil {
		return "", "", ErrLinkInvalid
	}
	payload := string(raw)
	valid := false
	for _, k := range append([][]byte{s.key}, s.prev...) {
		if hmac.Equal(got, mac(k, payload)) {
			valid = true
		}
	}
	if !valid {
		return "", "", ErrLinkInvalid
	}
	parts := strings.SplitN(payload, ".", 4)
	if len(parts) != 4 || parts[0] != tokenVersion || parts[3] == "" {
		return "", "", ErrLinkInvalid
	}
	action = Action(parts[1])
	if action != ActionAcknowledge && action != ActionResolve {
		return "", "", ErrLinkInvalid
	}
	exp, err := strconv.ParseInt(parts[2], 10, 64)
	if err != nil {
		return "", "", ErrLinkInvalid
	}
	if !now.Before(time.Unix(exp, 0)) {
		return "", "", ErrLinkExpired
	}
	return parts[3], action, nil
}

func mac(key []byte, payload string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte("incidentd link\x00"))
	h.Write([]byte(payload))
	return h.Sum(nil)
}
