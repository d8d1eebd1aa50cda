package auth_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/vigil-audit/vigil/internal/auth"
	"github.com/vigil-audit/vigil/internal/store"
)

// TestSCRAMVerifierRFC7677 checks the verifier against the SCRAM-SHA-256
// example exchange of RFC 7677, section 3 (user "user", password "pencil").
func TestSCRAMVerifierRFC7677(t *testing.T) {
	salt, _ := base64.StdEncoding.DecodeString("W22ZaJ0SNY7soEsUEjb6gQ==")
	v, err := auth.NewSCRAMVerifier("pencil", salt, 4096)
	if err != nil {
		t.Fatal(err)
	}
	const clientFirstBare = "n=user,r=rOprNGfwEbeRWgbNEkqO"
	const serverFirst = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
	const clientFinalNoProof = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
	authMsg := []byte(clientFirstBare + "," + serverFirst + "," + clientFinalNoProof)
	proof, _ := base64.StdEncoding.DecodeString("dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
	sig, ok := v.Verify(authMsg, proof)
	if !ok {
		t.Fatal("the RFC 7677 proof does not verify")
	}
	if got := base64.StdEncoding.EncodeToString(sig); got != "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=" {
		t.Fatalf("ServerSignature = %s; want the RFC's", got)
	}
	// One flipped bit of the proof, or another auth message, fails.
	bad := bytes.Clone(proof)
	bad[7] ^= 1
	if _, ok := v.Verify(authMsg, bad); ok {
		t.Error("a altered proof verifies")
	}
	if _, ok := v.Verify(append(authMsg, 'x'), proof); ok {
		t.Error("the proof verifies another auth message")
	}
	if _, ok := v.Verify(authMsg, proof[:31]); ok {
		t.Error("a short proof verifies")
	}
	// The text form round-trips.
	back, err := auth.ParseSCRAMVerifier(v.String())
	if err != nil || back.String() != v.String() || back.Iterations != 4096 {
		t.Fatalf("ParseSCRAMVerifier(%q) = %+v, %v", v.String(), back, err)
	}
	for _, s := range []string{"", "md5abc", "SCRAM-SHA-256$4096:c2FsdA==", "SCRAM-SHA-256$x:c2FsdA==$a:b",
		"SCRAM-SHA-256$4096:c2FsdA==$c2hvcnQ=:c2hvcnQ=", "SCRAM-SHA-256$0:c2FsdA==$" + strings.Repeat("A", 43) + "=:" + strings.Repeat("A", 43) + "="} {
		if _, err := auth.ParseSCRAMVerifier(s); err == nil {
			t.Errorf("ParseSCRAMVerifier(%q) accepted", s)
		}
	}
}

// clientProof computes a SCRAM client's proof from the password, as a client
// does (RFC 5802, section 3), independently of the package.
func clientProof(password string, salt []byte, iter int, authMsg []byte) []byte {
	salted, _ := pbkdf2.Key(sha256.New, password, salt, iter, 32)
	mac := func(k, m []byte) []byte { h := hmac.New(sha256.New, k); h.Write(m); return h.Sum(nil) }
	ck := mac(salted, []byte("Client Key"))
	sk := sha256.Sum256(ck)
	sig := mac(sk[:], authMsg)
	for i := range ck {
		ck[i] ^= sig[i]
	}
	return ck
}

// TestCreateStoresSCRAMVerifier: a new token's verifier uses the user's salt
// and the fixed iteration count, and a client's proof with the token verifies;
// SCRAMCredentials lists each token's, and counts tokens without one.
func TestCreateStoresSCRAMVerifier(t *testing.T) {
	ctx := context.Background()
	st, _ := openStore(t)
	s1, err := auth.Create(ctx, st, "alice", auth.RoleUser)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := auth.Create(ctx, st, "alice", auth.RoleAdmin)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := auth.Create(ctx, st, "bob", auth.RoleUser); err != nil {
		t.Fatal(err)
	}
	tok, err := st.TokenByHash(ctx, auth.Hash(s1))
	if err != nil {
		t.Fatal(err)
	}
	v, err := auth.ParseSCRAMVerifier(tok.SCRAM)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(v.Salt, auth.SCRAMSalt("alice")) || v.Iterations != auth.SCRAMIterations {
		t.Fatalf("verifier %+v: want the user's salt and %d iterations", v, auth.SCRAMIterations)
	}
	if bytes.Equal(auth.SCRAMSalt("alice"), auth.SCRAMSalt("bob")) {
		t.Fatal("two users share a salt")
	}
	// A legacy token (no verifier) of alice.
	if err := st.PutToken(ctx, store.Token{Hash: auth.Hash("vgl_legacy"), User: "alice", Role: auth.RoleUser, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	a := auth.NewAuthenticator(st)
	creds, legacy, err := a.SCRAMCredentials(ctx, "alice")
	if err != nil || len(creds) != 2 || legacy != 1 {
		t.Fatalf("SCRAMCredentials(alice) = %d creds, %d legacy, %v; want 2, 1", len(creds), legacy, err)
	}
	authMsg := []byte("n=,r=abc,r=abcdef,s=" + base64.StdEncoding.EncodeToString(v.Salt) + ",i=4096,c=biws,r=abcdef")
	for _, c := range []struct {
		secret, role string
	}{{s1, auth.RoleUser}, {s2, auth.RoleAdmin}} {
		proof := clientProof(c.secret, auth.SCRAMSalt("alice"), auth.SCRAMIterations, authMsg)
		matched := 0
		for _, cr := range creds {
			if _, ok := cr.Verifier.Verify(authMsg, proof); ok {
				matched++
				if cr.Role != c.role || cr.User != "alice" {
					t.Errorf("proof matched %+v; want role %s", cr.Principal, c.role)
				}
			}
		}
		if matched != 1 {
			t.Errorf("proof of a token matched %d verifiers; want 1", matched)
		}
	}
	if creds, legacy, err := a.SCRAMCredentials(ctx, "nobody"); err != nil || len(creds) != 0 || legacy != 0 {
		t.Fatalf("SCRAMCredentials(nobody) = %v, %d, %v", creds, legacy, err)
	}
	// A verifier with a salt other than the user's fails closed.
	other, _ := auth.NewSCRAMVerifier("vgl_x", []byte("another salt"), auth.SCRAMIterations)
	if err := st.PutToken(ctx, store.Token{Hash: auth.Hash("vgl_x"), User: "carol", Role: auth.RoleUser, CreatedAt: time.Now(), SCRAM: other.String()}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.SCRAMCredentials(ctx, "carol"); err == nil {
		t.Fatal("SCRAMCredentials accepted a verifier with a foreign salt")
	}
}
