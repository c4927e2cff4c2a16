// cloister-guest: the measured agent inside every LibOS instance. It attests, accepts exactly one
// task over mutually attested TLS on its stdin/stdout, commits to the task before it sees any
// input, runs the payload as a child with limits and returns the outputs signed by its key.
package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"syscall"
	"time"
)

var (
	oidClaims   = []int{1, 3, 6, 1, 4, 1, 59999, 7, 1}
	oidEvidence = []int{1, 3, 6, 1, 4, 1, 59999, 7, 2}
)

const (
	commitDomain = "cloister/libos/commit/1"
	resultDomain = "cloister/libos/result/1"
	policyPath   = "/cloister/policy.json"
)

type helloBody struct {
	Nonce   string `json:"nonce"`
	Runtime string `json:"runtime"`
}

type claims struct {
	V          int    `json:"v"`
	Runtime    string `json:"runtime"`
	Nonce      string `json:"nonce"`
	PubkeyHash string `json:"pubkeyHash"`
}

func fail(format string, a ...interface{}) {
	fmt.Fprintf(os.Stderr, "cloister-guest: "+format+"\n", a...)
	os.Exit(70)
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "exec" {
		execChild(os.Args[2:])
		return
	}
	if len(os.Args) > 1 && os.Args[1] == "probe" {
		// The backend's start-up check: the sandbox runs and the agent can see its mounts.
		for _, d := range []string{"/task", "/tmp", "/app"} {
			if err := os.WriteFile(d+"/.probe", []byte("ok"), 0o600); err != nil {
				fail("probe: %s not writable: %v", d, err)
			}
		}
		if err := os.WriteFile("/cloister/.probe", []byte("x"), 0o600); err == nil {
			fail("probe: the root is writable")
		}
		fmt.Println("cloister-guest probe ok")
		return
	}
	// The payload runs as the same user: without this it could read the attested key from
	// /proc/<agent>/mem or ptrace the agent.
	syscall.RawSyscall(syscall.SYS_PRCTL, 4 /* PR_SET_DUMPABLE */, 0, 0)
	pol, err := loadPolicy(policyPath)
	if err != nil {
		fail("policy: %v", err)
	}
	// The warm interpreter imports while the handshake runs.
	startZygote()
	raw := stdio{}
	h, err := readFrame(raw)
	if err != nil || h.T != "hello" {
		fail("expected hello: %v", err)
	}
	var hello helloBody
	if err := json.Unmarshal(h.Body, &hello); err != nil {
		fail("hello: %v", err)
	}
	if nb, err := hex.DecodeString(hello.Nonce); err != nil || len(nb) != 32 {
		fail("hello nonce must be 32 bytes")
	}
	if hello.Runtime != pol.Runtime {
		fail("hello names runtime %q, this image is %q", hello.Runtime, pol.Runtime)
	}
	// The key is made only now, after the nonce: two instances never share one.
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		fail("key: %v", err)
	}
	spki, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	spkiHash := sha256.Sum256(spki)
	cj, _ := json.Marshal(claims{V: 1, Runtime: pol.Runtime, Nonce: hello.Nonce, PubkeyHash: hex.EncodeToString(spkiHash[:])})
	ch := sha256.Sum256(cj)
	reportData := make([]byte, 64)
	copy(reportData, ch[:])
	ev := evidenceSource{raw: raw}
	endorsement, err := ev.evidence(reportData)
	if err != nil {
		fail("boot evidence: %v", err)
	}
	certDer, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "cloister-guest"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		ExtraExtensions: []pkix.Extension{
			{Id: oidClaims, Value: cj},
			{Id: oidEvidence, Value: endorsement},
		},
	}, &x509.Certificate{Subject: pkix.Name{CommonName: "cloister-guest"}, SerialNumber: big.NewInt(1)}, &key.PublicKey, key)
	if err != nil {
		fail("certificate: %v", err)
	}
	zy.waitReady()
	if err := writeFrame(raw, "ready", struct{}{}); err != nil {
		fail("ready: %v", err)
	}
	conn := tls.Server(stdioConn{}, &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{{Certificate: [][]byte{certDer}, PrivateKey: key}},
		ClientAuth:   tls.RequireAnyClientCert,
		VerifyPeerCertificate: func(rawCerts [][]byte, _ [][]*x509.Certificate) error {
			return verifyNode(rawCerts, pol)
		},
	})
	if err := conn.Handshake(); err != nil {
		fail("tls: %v", err)
	}
	ev.tls = conn
	t := &taskRun{conn: conn, key: key, spkiHash: spkiHash[:], ev: &ev}
	if err := t.serve(); err != nil {
		writeFrame(conn, "error", map[string]string{"code": t.code, "message": err.Error()})
		conn.Close()
		os.Exit(1)
	}
	conn.Close()
}

// evidenceSource gets a quote over reportData: from Gramine's /dev/attestation when it exists,
// otherwise from the host as simulated evidence (the host can forge it; the quote says so).
type evidenceSource struct {
	raw io.ReadWriter
	tls io.ReadWriter
}

func (e *evidenceSource) evidence(reportData []byte) ([]byte, error) {
	req := map[string]string{"reportData": hex.EncodeToString(reportData)}
	if _, err := os.Stat("/dev/attestation/user_report_data"); err == nil {
		if err := os.WriteFile("/dev/attestation/user_report_data", reportData, 0); err != nil {
			return nil, err
		}
		q, err := os.ReadFile("/dev/attestation/quote")
		if err != nil {
			return nil, err
		}
		req["quote"] = hex.EncodeToString(q)
	}
	ch := e.raw
	if e.tls != nil {
		ch = e.tls
	}
	if err := writeFrame(ch, "evidence-request", req); err != nil {
		return nil, err
	}
	f, err := readFrame(ch)
	if err != nil {
		return nil, err
	}
	if f.T != "evidence" || len(f.Blobs) != 1 {
		return nil, errors.New("expected evidence")
	}
	return f.Blobs[0], nil
}

func commitReportData(taskID string, nonce, payloadSha, argsSha, spkiHash []byte) []byte {
	h := sha256.New()
	h.Write([]byte(commitDomain))
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(taskID)))
	h.Write(n[:])
	h.Write([]byte(taskID))
	h.Write(nonce)
	h.Write(payloadSha)
	h.Write(argsSha)
	out := h.Sum(nil)
	return append(out, spkiHash...)
}
