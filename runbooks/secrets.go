package runbooks

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
)

// SecretSource resolves secret names to values.
type SecretSource interface {
	Secret(name string) (string, error)
}

// ErrSecretNotFound is returned for a secret that no source has.
var ErrSecretNotFound = errors.New("secret not found")

// MaxSecretBytes caps a secret file.
const MaxSecretBytes = 1 << 20

// EnvSecrets resolves ${secret:NAME} from the environment variable
// INCIDENTD_SECRET_<NAME> (NAME upper-cased, '-' and '.' as '_'), then from
// the file NAME in Dir, if Dir is set. One trailing newline of a file is
// dropped.
type EnvSecrets struct {
	Dir string
	// LookupEnv defaults to os.LookupEnv.
	LookupEnv func(string) (string, bool)
}

// SecretEnvVar is the environment variable that holds secret name.
func SecretEnvVar(name string) string {
	return "INCIDENTD_SECRET_" + strings.NewReplacer("-", "_", ".", "_").Replace(strings.ToUpper(name))
}

// Secret implements SecretSource. Errors name the secret, never a value.
func (s EnvSecrets) Secret(name string) (string, error) {
	if !secretName.MatchString(name) || strings.Contains(name, "..") {
		return "", fmt.Errorf("invalid secret name %q", name)
	}
	lookup := s.LookupEnv
	if lookup == nil {
		lookup = os.LookupEnv
	}
	if v, ok := lookup(SecretEnvVar(name)); ok {
		return v, nil
	}
	if s.Dir == "" {
		return "", fmt.Errorf("secret %q: %w (set %s)", name, ErrSecretNotFound, SecretEnvVar(name))
	}
	f, err := os.Open(filepath.Join(s.Dir, name))
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("secret %q: %w (set %s or create %s)", name, ErrSecretNotFound, SecretEnvVar(name), filepath.Join(s.Dir, name))
	}
	if err != nil {
		return "", fmt.Errorf("secret %q: %w", name, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxSecretBytes+1))
	if err != nil {
		return "", fmt.Errorf("secret %q: reading: %w", name, err)
	}
	if len(b) > MaxSecretBytes {
		return "", fmt.Errorf("secret %q: file larger than %d bytes", name, MaxSecretBytes)
	}
	v := strings.TrimSuffix(string(b), "\n")
	return strings.TrimSuffix(v, "\r"), nil
}

// Masker replaces secret values with *** in any text: step outputs, errors,
// rendered inputs, log lines. The renderer adds every value it resolves;
// the engine keeps one Masker per run and masks everything it stores or
// logs. It also masks a value's JSON- and URL-escaped forms, since
// responses and errors often echo what was sent in those forms. It is safe
// for concurrent use.
type Masker struct {
	mu     sync.Mutex
	values map[string]bool
	r      *strings.Replacer
}

// Mask is what a secret value becomes.
const Mask = "***"

// NewMasker returns a masker for values.
func NewMasker(values ...string) *Masker {
	m := &Masker{values: map[string]bool{}}
	for _, v := range values {
		m.Add(v)
	}
	return m
}

// Add registers a value (and its escaped forms). Empty values are ignored.
func (m *Masker) Add(value string) {
	if value == "" {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.values[value] {
		return
	}
	m.values[value] = true
	m.r = nil
}

// Mask returns s with every registered value replaced by ***.
func (m *Masker) Mask(s string) string {
	if m == nil || s == "" {
		return s
	}
	m.mu.Lock()
	if m.r == nil && len(m.values) > 0 {
		m.r = m.build()
	}
	r := m.r
	m.mu.Unlock()
	if r == nil {
		return s
	}
	return r.Replace(s)
}

// MaskError returns err's text masked, as an error.
func (m *Masker) MaskError(err error) error {
	if err == nil {
		return nil
	}
	return errors.New(m.Mask(err.Error()))
}

// build makes a replacer for every form of every value, longest first, so
// that a secret containing another is masked whole.
func (m *Masker) build() *strings.Replacer {
	forms := map[string]bool{}
	for v := range m.values {
		forms[v] = true
		if j, err := json.Marshal(v); err == nil {
			forms[string(j[1:len(j)-1])] = true
		}
		forms[url.QueryEscape(v)] = true
		forms[url.PathEscape(v)] = true
	}
	list := make([]string, 0, len(forms))
	for f := range forms {
		if f != "" {
			list = append(list, f)
		}
	}
	sort.Slice(list, func(i, j int) bool {
		if len(list[i]) != len(list[j]) {
			return len(list[i]) > len(list[j])
		}
		return list[i] < list[j]
	})
	pairs := make([]string, 0, 2*len(list))
	for _, f := range list {
		pairs = append(pairs, f, Mask)
	}
	return strings.NewReplacer(pairs...)
}
