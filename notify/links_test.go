package notify

import (
	"bytes"
	"encoding/base64"
	"errors"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestSignedLinks(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	s, err := NewSigner(key)
	if err != nil {
		t.Fatal(err)
	}
	exp := testNow.Add(4 * time.Hour)
	link := s.Link("https://incidentd.example.com/api/v1/links", "INC-12", ActionAcknowledge, exp)
	u, err := url.Parse(link)
	if err != nil || u.Host != "incidentd.example.com" || u.Path != "/api/v1/links" {
		t.Fatalf("link %q", link)
	}
	token := u.Query().Get("token")
	if token == "" || url.QueryEscape(token) != token {
		t.Fatalf("token %q is not URL-safe", token)
	}
	if got := s.Link("https://x.example.com/l?lang=en", "INC-12", ActionResolve, exp); !strings.HasPrefix(got, "https://x.example.com/l?lang=en&token=") {
		t.Errorf("a base with a query: %q", got)
	}

	other, _ := NewSigner(bytes.Repeat([]byte{8}, 32))
	payload, sig, _ := strings.Cut(token, ".")
	forge := func(p string) string {
		return base64.RawURLEncoding.EncodeToString([]byte(p)) + "." + sig
	}
	cases := []struct {
		name     string
		signer   *Signer
		token    string
		now      time.Time
		incident string
		action   Action
		err      error
	}{
		{"valid", s, token, testNow, "INC-12", ActionAcknowledge, nil},
		{"valid until just before expiry", s, token, exp.Add(-time.Second), "INC-12", ActionAcknowledge, nil},
		{"expired", s, token, exp, "", "", ErrLinkExpired},
		{"resolve", s, s.Token("INC-7", ActionResolve, exp), testNow, "INC-7", ActionResolve, nil},
		{"another key", other, token, testNow, "", "", ErrLinkInvalid},
		{"action changed", s, forge("v1.resolve." + itoa(exp.Unix()) + ".INC-12"), testNow, "", "", ErrLinkInvalid},
		{"incident changed", s, forge("v1.acknowledge." + itoa(exp.Unix()) + ".INC-13"), testNow, "", "", ErrLinkInvalid},
		{"expiry extended", s, forge("v1.acknowledge." + itoa(exp.Add(time.Hour).Unix()) + ".INC-12"), testNow, "", "", ErrLinkInvalid},
		{"signature cut", s, payload + "." + sig[:10], testNow, "", "", ErrLinkInvalid},
		{"no signature", s, payload, testNow, "", "", ErrLinkInvalid},
		{"garbage", s, "%%%.***", testNow, "", "", ErrLinkInvalid},
		{"empty", s, "", testNow, "", "", ErrLinkInvalid},
		{"unknown action, validly signed", s, s.Token("INC-12", "delete", exp), testNow, "", "", ErrLinkInvalid},
	}
	for _, tc := range cases {
		inc, act, err := tc.signer.Verify(tc.token, tc.now)
		if !errors.Is(err, tc.err) || inc != tc.incident || act != tc.action {
			t.Errorf("%s: Verify = %q, %q, %v; want %q, %q, %v", tc.name, inc, act, err, tc.incident, tc.action, tc.err)
		}
	}
}

func TestSignerKeyRotation(t *testing.T) {
	oldKey, newKey := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	old, _ := NewSigner(oldKey)
	rotated, err := NewSigner(newKey, oldKey)
	if err != nil {
		t.Fatal(err)
	}
	exp := testNow.Add(time.Hour)
	if inc, _, err := rotated.Verify(old.Token("INC-1", ActionResolve, exp), testNow); err != nil || inc != "INC-1" {
		t.Errorf("a link signed with the previous key: %q, %v", inc, err)
	}
	if _, _, err := old.Verify(rotated.Token("INC-1", ActionResolve, exp), testNow); !errors.Is(err, ErrLinkInvalid) {
		t.Errorf("the old signer accepted the new key's token: %v", err)
	}
	if _, err := NewSigner([]byte("short")); err == nil {
		t.Error("NewSigner accepted a 5-byte key")
	}
	if _, err := NewSigner(newKey, []byte("short")); err == nil {
		t.Error("NewSigner accepted a short previous key")
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
