package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mab-build/mab/internal/testenv"
)

// TestBuildOverTLS starts a buildkitd on tcp:// that demands client
// certificates, and builds through it with --tlscacert/--tlscert/--tlskey;
// without the client certificate the same build is refused.
func TestBuildOverTLS(t *testing.T) {
	e := testenv.Get(t)
	dir := t.TempDir()
	ca, caKey := newCert(t, dir, "ca", nil, nil)
	newCert(t, dir, "server", ca, caKey)
	newCert(t, dir, "client", ca, caKey)

	addr := e.StartBuildkitd(t, "tcp://"+freeAddr(t),
		"--tlscacert", filepath.Join(dir, "ca.pem"),
		"--tlscert", filepath.Join(dir, "server.pem"), "--tlskey", filepath.Join(dir, "server-key.pem"))

	tlsFlags := []string{"--builder", addr, "--tlscacert", filepath.Join(dir, "ca.pem"),
		"--tlscert", filepath.Join(dir, "client.pem"), "--tlskey", filepath.Join(dir, "client-key.pem")}
	repo := uniqueRepo(e, "tls")
	args := append([]string{"build", "--insecure", "--progress", "quiet", "--platform", "linux/amd64",
		"--build-arg", "BASE=" + e.Base(), "-t", repo + ":1"}, tlsFlags...)
	r := e.Run(t, append(args, filepath.Join(e.Root, "examples", "hello"))...)
	if r.ExitCode != 0 {
		t.Fatalf("build over TLS exited %d:\n%s", r.ExitCode, r.Stderr)
	}
	r = e.Run(t, "build", "--insecure", "--platform", "linux/amd64", "-t", repo+":2",
		"--builder", addr, "--tlscacert", filepath.Join(dir, "ca.pem"), filepath.Join(e.Root, "examples", "hello"))
	checkRefused(t, r, addr)
	assertTagMissing(t, repo+":2")

	// builder ls and emulation status take the same TLS flags; without
	// them the TLS builder is unreachable, and ls says why.
	r = e.Run(t, append([]string{"builder", "ls"}, tlsFlags...)...)
	if r.ExitCode != 0 || !regexp.MustCompile(`(?m)^`+addr+` +ok +linux/amd64`).MatchString(r.Stdout) {
		t.Errorf("builder ls with TLS exited %d:\n%s%s", r.ExitCode, r.Stdout, r.Stderr)
	}
	r = e.Run(t, "builder", "ls", "--builder", addr)
	if r.ExitCode != 0 || !regexp.MustCompile(`(?m)^`+addr+` +unreachable +- \(.*`+addr).MatchString(r.Stdout) {
		t.Errorf("builder ls without TLS exited %d:\n%s%s", r.ExitCode, r.Stdout, r.Stderr)
	}
	r = e.Run(t, append([]string{"emulation", "status"}, tlsFlags...)...)
	if r.ExitCode != 0 || !strings.Contains(r.Stdout, "builder "+addr+" runs: linux/amd64") {
		t.Errorf("emulation status with TLS exited %d:\n%s%s", r.ExitCode, r.Stdout, r.Stderr)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// newCert writes NAME.pem and NAME-key.pem: a CA when parent is nil, else
// a certificate for 127.0.0.1 signed by parent, good for server and client.
func newCert(t *testing.T, dir, name string, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "mab-test-" + name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	signer, signerKey := tmpl, key
	if parent == nil {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature
	} else {
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		signer, signerKey = parent, parentKey
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signerKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	write := func(file, typ string, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, file), pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(name+".pem", "CERTIFICATE", der)
	write(name+"-key.pem", "EC PRIVATE KEY", keyDER)
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(fmt.Errorf("parsing %s: %w", name, err))
	}
	return cert, key
}
