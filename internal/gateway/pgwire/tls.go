package pgwire

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Files of the self-signed certificate LoadTLS keeps in the data directory.
const (
	GeneratedCertFile = "gateway-tls.crt"
	GeneratedKeyFile  = "gateway-tls.key"
)

// generatedValidity is how long a generated certificate is valid. An expired
// one is replaced on the next start.
const generatedValidity = 10 * 365 * 24 * time.Hour

// TLSInfo describes the certificate LoadTLS chose.
type TLSInfo struct {
	CertFile, KeyFile string
	// Fingerprint is the SHA-256 of the certificate (DER), as hex pairs
	// separated by colons, as `openssl x509 -fingerprint -sha256` prints it.
	Fingerprint string
	// Generated is true when the certificate is the self-signed one in the
	// data directory; Created when this call made it.
	Generated, Created bool
}

// LoadTLS returns the gateway's TLS configuration. With certFile and keyFile
// it uses that pair. Without them it uses a self-signed ECDSA P-256
// certificate kept in dataDir (GeneratedCertFile, GeneratedKeyFile with mode
// 0600), creating it on the first call and whenever it has expired. The
// certificate is its own CA, valid for localhost, 127.0.0.1, ::1 and the
// host's name, so a client may pin it (sslmode=verify-ca or verify-full with
// sslrootcert=<data>/gateway-tls.crt). A generated key readable by group or
// others is refused.
func LoadTLS(certFile, keyFile, dataDir string) (*tls.Config, TLSInfo, error) {
	var info TLSInfo
	switch {
	case certFile != "" && keyFile != "":
		info.CertFile, info.KeyFile = certFile, keyFile
	case certFile != "" || keyFile != "":
		return nil, info, errors.New("gateway tls: set both the certificate and the key, or neither")
	default:
		info.CertFile = filepath.Join(dataDir, GeneratedCertFile)
		info.KeyFile = filepath.Join(dataDir, GeneratedKeyFile)
		info.Generated = true
		created, err := ensureSelfSigned(info.CertFile, info.KeyFile)
		if err != nil {
			return nil, info, fmt.Errorf("gateway tls: %w", err)
		}
		info.Created = created
	}
	cert, err := tls.LoadX509KeyPair(info.CertFile, info.KeyFile)
	if err != nil {
		return nil, info, fmt.Errorf("gateway tls: %w", err)
	}
	sum := sha256.Sum256(cert.Certificate[0])
	hexes := make([]string, len(sum))
	for i, b := range sum {
		hexes[i] = fmt.Sprintf("%02X", b)
	}
	info.Fingerprint = strings.Join(hexes, ":")
	cfg := &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   tls.VersionTLS12,
		// PostgreSQL's ALPN protocol name, which libpq 17 sends.
		NextProtos: []string{"postgresql"},
	}
	return cfg, info, nil
}

// ensureSelfSigned makes the self-signed pair unless a valid one exists. It
// reports whether it made one.
func ensureSelfSigned(certFile, keyFile string) (bool, error) {
	certPEM, certErr := os.ReadFile(certFile)
	keyFI, keyErr := os.Stat(keyFile)
	switch {
	case certErr == nil && keyErr == nil:
		if keyFI.Mode().Perm()&0o077 != 0 {
			return false, fmt.Errorf("%s is readable by group or others (mode %v); chmod 600 it", keyFile, keyFI.Mode().Perm())
		}
		if notAfter, err := certNotAfter(certPEM); err != nil {
			return false, fmt.Errorf("%s: %w", certFile, err)
		} else if time.Now().Before(notAfter) {
			return false, nil
		}
		// Expired: replaced below.
	case certErr == nil && errors.Is(keyErr, fs.ErrNotExist):
		// A certificate without its key may be pinned by clients: do not
		// replace it silently.
		return false, fmt.Errorf("%s exists but its key %s does not; restore the key, or remove both to generate a new pair", certFile, keyFile)
	case errors.Is(certErr, fs.ErrNotExist) && (keyErr == nil || errors.Is(keyErr, fs.ErrNotExist)):
		// Nothing yet, or a key left by an interrupted first start (the
		// certificate is written last): a new pair.
	case certErr != nil && !errors.Is(certErr, fs.ErrNotExist):
		return false, certErr
	default:
		return false, keyErr
	}
	certDER, keyDER, err := selfSigned()
	if err != nil {
		return false, err
	}
	if err := writeFileAtomic(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return false, err
	}
	if err := writeFileAtomic(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: certDER}), 0o644); err != nil {
		return false, err
	}
	return true, nil
}

func certNotAfter(certPEM []byte) (time.Time, error) {
	b, _ := pem.Decode(certPEM)
	if b == nil || b.Type != "CERTIFICATE" {
		return time.Time{}, errors.New("not a PEM certificate")
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		return time.Time{}, err
	}
	return c.NotAfter, nil
}

// selfSigned makes an ECDSA P-256 key and a certificate for it, signed by
// itself, in DER.
func selfSigned() (certDER, keyDER []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, fmt.Errorf("generate serial: %w", err)
	}
	names := []string{"localhost"}
	if h, err := os.Hostname(); err == nil && h != "" && h != "localhost" {
		names = append(names, h)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "Vigil PostgreSQL gateway (self-signed)"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(generatedValidity),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              names,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	certDER, err = x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("create certificate: %w", err)
	}
	keyDER, err = x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("encode key: %w", err)
	}
	return certDER, keyDER, nil
}

// writeFileAtomic writes data to a new file next to path, syncs it and
// renames it over path.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // fails harmlessly once renamed
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
