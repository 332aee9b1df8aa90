package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"
)

// readBody reads a JSON request body of at most maxBodyBytes. It refuses
// what encoding/json would take but the store must not get: invalid UTF-8,
// which encoding/json silently turns into U+FFFD (storing text nobody
// sent), and NUL characters, which PostgreSQL text cannot hold (the store
// would fail with a 503 there, and take them on SQLite).
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, errTooLarge
		}
		return nil, &paramError{"body", err.Error()}
	}
	if !utf8.Valid(body) {
		return nil, &paramError{"body", "not valid UTF-8"}
	}
	if hasNULEscape(body) {
		return nil, &paramError{"body", `contains a NUL character (\u0000)`}
	}
	return body, nil
}

// hasNULEscape reports whether JSON text has a \u0000 escape: one preceded
// by an even number of backslashes, so that an escaped backslash followed
// by the letters u0000 does not count.
func hasNULEscape(body []byte) bool {
	esc := []byte(`\u0000`)
	for off := 0; ; {
		i := bytes.Index(body[off:], esc)
		if i < 0 {
			return false
		}
		i += off
		n := 0
		for j := i - 1; j >= 0 && body[j] == '\\'; j-- {
			n++
		}
		if n%2 == 0 {
			return true
		}
		off = i + 1
	}
}

// decodeStrict decodes the one JSON value of body into v: unknown fields
// and data after the value are errors. want says what the body should be.
func decodeStrict(body []byte, v any, useNumber bool, want string) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if useNumber {
		dec.UseNumber()
	}
	if err := dec.Decode(v); err != nil {
		return &paramError{"body", want + ": " + err.Error()}
	}
	if dec.More() {
		return &paramError{"body", want + ": data after the JSON value"}
	}
	return nil
}

// textParam returns query parameter name, refusing invalid UTF-8 and NUL
// as readBody does: a value that goes to the store as text would make
// PostgreSQL fail (a 503) where the answer is simply "no such thing".
func textParam(q url.Values, name string) (string, error) {
	v := q.Get(name)
	if !utf8.ValidString(v) || strings.IndexByte(v, 0) >= 0 {
		return "", &paramError{name, "not valid UTF-8 text"}
	}
	return v, nil
}
