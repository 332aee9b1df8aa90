package notify

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/textproto"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Error is a failed delivery, classified for the caller that retries:
// Permanent failures will fail again the same way (bad request, unknown
// recipient, wrong key) and should be shown, not retried; the others may
// succeed later, not before RetryAfter if the endpoint said so.
type Error struct {
	Notifier string
	Type     string
	// Permanent is true when retrying cannot help.
	Permanent bool
	// RetryAfter is the endpoint's Retry-After, 0 if it gave none.
	RetryAfter time.Duration
	// Code is the HTTP status or SMTP reply code, 0 for network errors.
	Code int
	msg  string
	err  error
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "notify %s (%s): %s", e.Notifier, e.Type, e.msg)
	if e.Permanent {
		b.WriteString(" (permanent)")
	} else if e.RetryAfter > 0 {
		fmt.Fprintf(&b, " (retry after %s)", e.RetryAfter)
	}
	return b.String()
}

// Unwrap returns the cause (a network or context error, with any URL in it
// already reduced to scheme and host), for errors.Is(err,
// context.DeadlineExceeded) and the like.
func (e *Error) Unwrap() error { return e.err }

// IsPermanent reports whether err is a delivery failure that retrying cannot
// fix. Errors that are not classified (nil included) are not permanent.
func IsPermanent(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Permanent
}

// RetryAfter returns how long the endpoint asked the caller to wait before
// retrying, and whether it asked at all.
func RetryAfter(err error) (time.Duration, bool) {
	var e *Error
	if errors.As(err, &e) && !e.Permanent && e.RetryAfter > 0 {
		return e.RetryAfter, true
	}
	return 0, false
}

// redactor removes known secret values from text that leaves the package.
type redactor struct{ secrets []string }

func (r *redactor) add(secrets ...string) {
	for _, s := range secrets {
		// Very short values would mask unrelated text; they are not
		// secrets worth the name, and the fields holding them are masked
		// by type anyway.
		if len(s) < 4 {
			continue
		}
		r.secrets = append(r.secrets, s, url.QueryEscape(s), url.PathEscape(s))
	}
	sort.Slice(r.secrets, func(i, j int) bool { return len(r.secrets[i]) > len(r.secrets[j]) })
}

func (r *redactor) clean(s string) string {
	for _, sec := range r.secrets {
		s = strings.ReplaceAll(s, sec, "<redacted>")
	}
	return s
}

// redactURL keeps only the scheme and host: paths and queries of webhook
// URLs often carry tokens.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return "<url>"
	}
	if u.Path == "" && u.RawQuery == "" {
		return u.Scheme + "://" + u.Host
	}
	return u.Scheme + "://" + u.Host + "/..."
}

// base is what every kind of notifier shares: its name, and how it turns a
// failure into an *Error without leaking secrets.
type base struct {
	name, typ string
	red       redactor
	now       func() time.Time
}

func (b *base) fail(permanent bool, code int, cause error, format string, args ...any) *Error {
	return &Error{
		Notifier: b.name, Type: b.typ, Permanent: permanent, Code: code,
		msg: b.red.clean(fmt.Sprintf(format, args...)), err: sanitize(cause),
	}
}

// invalid reports a message the engine built wrongly: retrying the same
// message cannot help.
func (b *base) invalid(format string, args ...any) *Error {
	return b.fail(true, 0, nil, "invalid message: "+format, args...)
}

// transportError classifies an error that happened before any response:
// certificate problems are configuration, so permanent; the rest (refused,
// reset, timeouts, DNS) may pass.
func (b *base) transportError(err error) *Error {
	where := ""
	var ue *url.Error
	if errors.As(err, &ue) {
		where, err = strings.ToLower(ue.Op)+" "+redactURL(ue.URL)+": ", ue.Err
	}
	permanent := false
	var (
		unknownCA *x509.UnknownAuthorityError
		hostname  x509.HostnameError
		invalid   x509.CertificateInvalidError
		verify    *tls.CertificateVerificationError
	)
	if errors.As(err, &unknownCA) || errors.As(err, &hostname) || errors.As(err, &invalid) || errors.As(err, &verify) {
		permanent = true
	}
	return b.fail(permanent, 0, err, "%s%v", where, err)
}

// httpStatus classifies a non-2xx response: 408, 429 and 5xx may pass,
// other codes will not. snippet is the start of the response body.
func (b *base) httpStatus(code int, h http.Header, snippet string) *Error {
	permanent := !(code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500 && code <= 599)
	msg := fmt.Sprintf("HTTP %d %s", code, http.StatusText(code))
	if code >= 300 && code < 400 {
		msg += " (redirects are not followed: configure the final URL)"
	}
	if s := oneLine(snippet); s != "" {
		msg += ": " + s
	}
	e := b.fail(permanent, code, nil, "%s", msg)
	if !permanent {
		e.RetryAfter = parseRetryAfter(h.Get("Retry-After"), b.now())
	}
	return e
}

// smtpError classifies an SMTP failure: 5xx replies are permanent (unknown
// mailbox, authentication refused), 4xx temporary (greylisting, full
// queue); anything else is treated like a network error.
func (b *base) smtpError(stage string, err error) *Error {
	var te *textproto.Error
	if errors.As(err, &te) {
		return b.fail(te.Code >= 500, te.Code, nil, "%s: %d %s", stage, te.Code, oneLine(te.Msg))
	}
	e := b.transportError(err)
	e.msg = b.red.clean(stage + ": " + e.msg)
	return e
}

// parseRetryAfter reads delay-seconds or an HTTP date; 0 if absent or
// unreadable.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil {
		if n < 0 {
			return 0
		}
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

// sanitize strips URLs out of a cause kept for Unwrap.
func sanitize(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return &url.Error{Op: ue.Op, URL: redactURL(ue.URL), Err: ue.Err}
	}
	return err
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}
