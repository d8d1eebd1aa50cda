package auth

import (
	"context"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// SCRAM-SHA-256 (RFC 5802, RFC 7677) verifiers of tokens, for the PostgreSQL
// gateway. The store keeps only SHA-256 of a token, which a SCRAM exchange
// cannot use, so Create also stores the token's verifier: salt, iteration
// count, StoredKey and ServerKey, in PostgreSQL's text form.
//
// A user may hold several tokens, and a SCRAM server names one salt and one
// iteration count before the client proves anything. So every token of a user
// has the same salt, derived from the user name (SCRAMSalt), and every token
// the same iteration count (SCRAMIterations); the server tries the proof
// against each of the user's verifiers. A predictable salt costs nothing here:
// tokens are 256-bit random secrets, out of reach of any precomputed table,
// and it makes an unknown user's exchange look exactly like a known one's.

// SCRAMIterations is the PBKDF2 iteration count of every verifier (the
// PostgreSQL default).
const SCRAMIterations = 4096

// scramPrefix starts a verifier's text form.
const scramPrefix = "SCRAM-SHA-256$"

// SCRAMSalt returns the salt of every verifier of user's tokens: the first
// 16 bytes of SHA-256 over a fixed label and the name.
func SCRAMSalt(user string) []byte {
	h := sha256.Sum256([]byte("vigil scram-sha-256 salt\x00" + user))
	return h[:16]
}

// SCRAMVerifier is what a server keeps to check a SCRAM-SHA-256 proof.
type SCRAMVerifier struct {
	Salt       []byte
	Iterations int
	StoredKey  []byte // H(ClientKey)
	ServerKey  []byte // HMAC(SaltedPassword, "Server Key")
}

// NewSCRAMVerifier computes the verifier of password with salt and iterations.
func NewSCRAMVerifier(password string, salt []byte, iterations int) (SCRAMVerifier, error) {
	salted, err := pbkdf2.Key(sha256.New, password, salt, iterations, sha256.Size)
	if err != nil {
		return SCRAMVerifier{}, fmt.Errorf("scram verifier: %w", err)
	}
	clientKey := hmacSHA256(salted, []byte("Client Key"))
	stored := sha256.Sum256(clientKey)
	return SCRAMVerifier{
		Salt: append([]byte(nil), salt...), Iterations: iterations,
		StoredKey: stored[:], ServerKey: hmacSHA256(salted, []byte("Server Key")),
	}, nil
}

// String returns the verifier in PostgreSQL's text form:
// SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>.
func (v SCRAMVerifier) String() string {
	b64 := base64.StdEncoding.EncodeToString
	return scramPrefix + strconv.Itoa(v.Iterations) + ":" + b64(v.Salt) + "$" + b64(v.StoredKey) + ":" + b64(v.ServerKey)
}

// ParseSCRAMVerifier reads a verifier's text form.
func ParseSCRAMVerifier(s string) (SCRAMVerifier, error) {
	bad := func(what string) (SCRAMVerifier, error) {
		return SCRAMVerifier{}, fmt.Errorf("scram verifier: %s", what)
	}
	rest, ok := strings.CutPrefix(s, scramPrefix)
	if !ok {
		return bad("not SCRAM-SHA-256")
	}
	params, keys, ok := strings.Cut(rest, "$")
	if !ok {
		return bad("no keys")
	}
	iter, salt, ok := strings.Cut(params, ":")
	if !ok {
		return bad("no salt")
	}
	stored, server, ok := strings.Cut(keys, ":")
	if !ok {
		return bad("no server key")
	}
	var v SCRAMVerifier
	var err error
	if v.Iterations, err = strconv.Atoi(iter); err != nil || v.Iterations < 1 {
		return bad("bad iteration count")
	}
	dec := base64.StdEncoding.DecodeString
	if v.Salt, err = dec(salt); err != nil || len(v.Salt) == 0 {
		return bad("bad salt")
	}
	if v.StoredKey, err = dec(stored); err != nil || len(v.StoredKey) != sha256.Size {
		return bad("bad stored key")
	}
	if v.ServerKey, err = dec(server); err != nil || len(v.ServerKey) != sha256.Size {
		return bad("bad server key")
	}
	return v, nil
}

// Verify checks a client's proof over authMessage (client-first-message-bare
// "," server-first-message "," client-final-message-without-proof): it
// recovers ClientKey = proof XOR HMAC(StoredKey, authMessage) and compares
// H(ClientKey) with StoredKey in constant time. On success it returns the
// ServerSignature the server sends back.
func (v SCRAMVerifier) Verify(authMessage, proof []byte) (serverSignature []byte, ok bool) {
	if len(proof) != sha256.Size || len(v.StoredKey) != sha256.Size {
		return nil, false
	}
	sig := hmacSHA256(v.StoredKey, authMessage)
	clientKey := make([]byte, sha256.Size)
	subtle.XORBytes(clientKey, proof, sig)
	h := sha256.Sum256(clientKey)
	if subtle.ConstantTimeCompare(h[:], v.StoredKey) != 1 {
		return nil, false
	}
	return hmacSHA256(v.ServerKey, authMessage), true
}

func hmacSHA256(key, msg []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(msg)
	return m.Sum(nil)
}

// SCRAMCredential is one token's verifier and the principal it logs in as.
type SCRAMCredential struct {
	Principal
	Verifier SCRAMVerifier
}

// SCRAMCredentials returns the verifiers of user's tokens. legacy counts the
// user's tokens that have none (created before verifiers were kept): they
// can log in only with a cleartext password. A stored verifier that does not
// parse, or that has another salt or iteration count than every verifier of
// the user must, is an error: the gateway fails closed rather than skip it
// silently.
func (a *Authenticator) SCRAMCredentials(ctx context.Context, user string) (creds []SCRAMCredential, legacy int, err error) {
	toks, err := a.st.TokensByUser(ctx, user)
	if err != nil {
		return nil, 0, fmt.Errorf("scram credentials of %s: %w", user, err)
	}
	salt := SCRAMSalt(user)
	for _, t := range toks {
		if t.SCRAM == "" {
			legacy++
			continue
		}
		v, err := ParseSCRAMVerifier(t.SCRAM)
		if err != nil {
			return nil, 0, fmt.Errorf("scram credentials of %s: %w", user, err)
		}
		if v.Iterations != SCRAMIterations || subtle.ConstantTimeCompare(v.Salt, salt) != 1 {
			return nil, 0, fmt.Errorf("scram credentials of %s: %w", user, errForeignVerifier)
		}
		creds = append(creds, SCRAMCredential{Principal: Principal{User: t.User, Role: t.Role}, Verifier: v})
	}
	return creds, legacy, nil
}

var errForeignVerifier = errors.New("a stored verifier has another salt or iteration count than the user's")
