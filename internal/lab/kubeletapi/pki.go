package kubeletapi

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// PKI is the kubelet API's trust, in one directory: a CA of its own, the
// kubelets' serving pair (for 127.0.0.1 and localhost, where every lab
// node listens) and the API server's kubelet-client pair. kube-apiserver
// gets the CA as --kubelet-certificate-authority (it verifies the kubelet)
// and the client pair as --kubelet-client-certificate/-key (the kubelet
// verifies it). Made with Go's crypto, so no openssl is needed.
type PKI struct{ Dir string }

// The files of a PKI directory. hack/testenv.sh names the same files.
const (
	CAFile         = "ca.crt"
	caKeyFile      = "ca.key"
	ServingCert    = "kubelet.crt"
	ServingKey     = "kubelet.key"
	ClientCertFile = "apiserver-kubelet-client.crt"
	ClientKeyFile  = "apiserver-kubelet-client.key"
)

// ClientCommonName is the API server's name in its kubelet-client
// certificate, as kubeadm names it.
const ClientCommonName = "kube-apiserver-kubelet-client"

// Path names a file of the PKI.
func (p PKI) Path(name string) string { return filepath.Join(p.Dir, name) }

// EnsurePKI makes the PKI in dir unless it is complete there already: a
// daemon that restarts while the API server runs must keep the CA that
// API server was started with.
func EnsurePKI(dir string) (PKI, error) {
	p := PKI{Dir: dir}
	complete := true
	for _, f := range []string{CAFile, caKeyFile, ServingCert, ServingKey, ClientCertFile, ClientKeyFile} {
		if _, err := os.Stat(p.Path(f)); err != nil {
			complete = false
		}
	}
	if complete {
		return p, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return p, err
	}
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return p, err
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "palisade-lab-kubelet-ca"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return p, err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return p, err
	}
	leaf := func(cn string, usage x509.ExtKeyUsage, ips []net.IP, dns []string, certFile, keyFile string) error {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return err
		}
		tmpl := &x509.Certificate{
			SerialNumber: serial(),
			Subject:      pkix.Name{CommonName: cn},
			NotBefore:    now.Add(-time.Hour),
			NotAfter:     now.AddDate(10, 0, 0),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{usage},
			IPAddresses:  ips,
			DNSNames:     dns,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			return err
		}
		return writePair(p.Path(certFile), p.Path(keyFile), der, key)
	}
	if err := leaf("palisade-lab-kubelet", x509.ExtKeyUsageServerAuth,
		[]net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}, []string{"localhost"}, ServingCert, ServingKey); err != nil {
		return p, err
	}
	if err := leaf(ClientCommonName, x509.ExtKeyUsageClientAuth, nil, nil, ClientCertFile, ClientKeyFile); err != nil {
		return p, err
	}
	// The CA last: its presence is what says the directory is complete
	// (with the rest, checked above).
	if err := writePair(p.Path(CAFile), p.Path(caKeyFile), caDER, caKey); err != nil {
		return p, err
	}
	return p, nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return n
}

func writePair(certPath, keyPath string, der []byte, key *ecdsa.PrivateKey) error {
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		return err
	}
	return os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}

func (p PKI) caPool() (*x509.CertPool, error) {
	b, err := os.ReadFile(p.Path(CAFile))
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%s: no certificate in it", p.Path(CAFile))
	}
	return pool, nil
}

// ServerTLS is the kubelets' side: their serving pair, and only clients
// whose certificate the CA signed.
func (p PKI) ServerTLS() (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(p.Path(ServingCert), p.Path(ServingKey))
	if err != nil {
		return nil, err
	}
	pool, err := p.caPool()
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientCAs:    pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS12,
		// SPDY and WebSocket upgrade HTTP/1.1 connections; HTTP/2 has no
		// such upgrade.
		NextProtos: []string{"http/1.1"},
	}, nil
}

// ClientTLS is the API server's side, for tests that speak as it does.
func (p PKI) ClientTLS() (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(p.Path(ClientCertFile), p.Path(ClientKeyFile))
	if err != nil {
		return nil, err
	}
	pool, err := p.caPool()
	if err != nil {
		return nil, err
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}

// errNoClientCert is what a request without the API server's certificate
// hears (the TLS handshake already refuses one the CA did not sign).
var errNoClientCert = errors.New("the kubelet API needs a client certificate signed by the lab's kubelet CA")
