package main

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"time"
)

// policy is measured with the runtime: whom the agent accepts as its node.
type policy struct {
	Runtime string `json:"runtime"`
	// PEM of the attestation service root CA.
	AsRootCa string `json:"asRootCa"`
	// Accepted MRSIGNERs of the node (hex): the signer, not MRENCLAVE, so images outlive releases.
	NodeMrSigners []string `json:"nodeMrSigners"`
	root          *x509.Certificate
}

func loadPolicy(path string) (*policy, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var p policy
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, err
	}
	blk, _ := pem.Decode([]byte(p.AsRootCa))
	if blk == nil {
		return nil, errors.New("no root CA")
	}
	p.root, err = x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return nil, err
	}
	return &p, nil
}

type byteArray []byte

func (b *byteArray) UnmarshalJSON(data []byte) error {
	var n []int
	if err := json.Unmarshal(data, &n); err != nil {
		return err
	}
	out := make([]byte, len(n))
	for i, v := range n {
		if v < 0 || v > 255 {
			return errors.New("not a byte")
		}
		out[i] = byte(v)
	}
	*b = out
	return nil
}

type endorsement struct {
	Report    byteArray   `json:"report"`
	Signature byteArray   `json:"signature"`
	Certs     []byteArray `json:"certs"`
}

var oidNetscapeComment = []int{2, 16, 840, 1, 113730, 1, 13}

// verifyNode checks the node's attested client certificate: its report is signed by a chain to
// the policy's root, the quote's REPORTDATA is the certificate key and its MRSIGNER is accepted.
func verifyNode(rawCerts [][]byte, p *policy) error {
	if len(rawCerts) == 0 {
		return errors.New("node presented no certificate")
	}
	cert, err := x509.ParseCertificate(rawCerts[0])
	if err != nil {
		return err
	}
	var payload []byte
	for _, e := range cert.Extensions {
		if e.Id.Equal(oidNetscapeComment) {
			payload = e.Value
		}
	}
	if payload == nil {
		return errors.New("node certificate carries no attestation")
	}
	var en endorsement
	if err := json.Unmarshal(payload, &en); err != nil || len(en.Certs) == 0 {
		return errors.New("node attestation payload unreadable")
	}
	chain := make([]*x509.Certificate, len(en.Certs))
	for i, c := range en.Certs {
		if chain[i], err = x509.ParseCertificate(c); err != nil {
			return err
		}
	}
	now := time.Now()
	for i, c := range chain {
		if now.Before(c.NotBefore) || now.After(c.NotAfter) {
			return errors.New("report signing chain not valid now")
		}
		if bytes.Equal(c.Raw, p.root.Raw) {
			break
		}
		parent := p.root
		if i+1 < len(chain) && !bytes.Equal(chain[i+1].Raw, p.root.Raw) {
			parent = chain[i+1]
		}
		if err := c.CheckSignatureFrom(parent); err != nil {
			return fmt.Errorf("report signing chain: %v", err)
		}
		if parent == p.root {
			break
		}
	}
	rk, ok := chain[0].PublicKey.(*rsa.PublicKey)
	if !ok {
		return errors.New("report signing key is not RSA")
	}
	d := sha256.Sum256(en.Report)
	if err := rsa.VerifyPKCS1v15(rk, crypto.SHA256, d[:], en.Signature); err != nil {
		return errors.New("report signature does not verify")
	}
	var rep struct {
		Body   string `json:"isvEnclaveQuoteBody"`
		Status string `json:"isvEnclaveQuoteStatus"`
	}
	if err := json.Unmarshal(en.Report, &rep); err != nil {
		return err
	}
	if rep.Status != "OK" {
		return fmt.Errorf("node quote status %s", rep.Status)
	}
	body, err := base64.StdEncoding.DecodeString(rep.Body)
	if err != nil || len(body) != 432 {
		return errors.New("node quote body malformed")
	}
	ek, ok := cert.PublicKey.(*ecdsa.PublicKey)
	if !ok {
		return errors.New("node key is not ECDSA")
	}
	point := elliptic.Marshal(elliptic.P256(), ek.X, ek.Y)
	if !bytes.Equal(point[1:], body[368:432]) {
		return errors.New("node key is not the one its quote binds")
	}
	signer := hex.EncodeToString(body[176:208])
	for _, s := range p.NodeMrSigners {
		if s == signer {
			return nil
		}
	}
	return fmt.Errorf("node signer %s not accepted", signer)
}
