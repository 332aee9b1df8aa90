package daemontest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// SelfSigned writes a self-signed certificate for 127.0.0.1 and its key
// into dir (cert.pem, key.pem) and returns a pool that trusts it.
func SelfSigned(t testing.TB, dir string) *x509.CertPool {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "incidentd test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:         true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	for name, data := range map[string][]byte{"cert.pem": certPEM, "key.pem": pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	return pool
}

// WebConfig writes dir/web.yml, a --web.config.file serving TLS with the
// certificate of SelfSigned (paths relative to the file, as the
// exporter-toolkit resolves them) and basic auth for users (name to
// password), and returns its path.
func WebConfig(t testing.TB, dir string, users map[string]string) string {
	t.Helper()
	text := "tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\n"
	if len(users) > 0 {
		text += "basic_auth_users:\n"
		for u, pw := range users {
			hash, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
			if err != nil {
				t.Fatal(err)
			}
			text += "  " + u + ": '" + string(hash) + "'\n"
		}
	}
	file := filepath.Join(dir, "web.yml")
	if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

// Token is an API token for TokensConfig.
type Token struct {
	Name, Role, Secret string
}

// TokensConfig returns config text declaring tokens: their secrets in
// files of a new secrets dir (runbooks.secrets_dir) and the api: section
// referring to them. Append it to a config that has neither section.
func TokensConfig(t testing.TB, tokens ...Token) string {
	t.Helper()
	dir := t.TempDir()
	text := "runbooks: {secrets_dir: '" + dir + "'}\napi:\n  tokens:\n"
	for _, tok := range tokens {
		secret := tok.Name + "_token"
		if err := os.WriteFile(filepath.Join(dir, secret), []byte(tok.Secret+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		text += "    - {name: " + tok.Name + ", role: " + tok.Role + ", token: '${secret:" + secret + "}'}\n"
	}
	return text
}
