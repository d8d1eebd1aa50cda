package pgwire

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/vigil-audit/vigil/internal/auth"
)

// Client authentication methods (Config.Auth).
const (
	// AuthSCRAM offers SCRAM-SHA-256 (the default). A user whose tokens all
	// predate SCRAM verifiers is asked for a cleartext password instead.
	AuthSCRAM = "scram"
	// AuthPassword asks for the token as a cleartext password.
	AuthPassword = "password"
)

const (
	scramMechanism     = "SCRAM-SHA-256"
	scramPlusMechanism = "SCRAM-SHA-256-PLUS"
	// cbType is the channel binding type of SCRAM-SHA-256-PLUS, as
	// PostgreSQL supports it (RFC 5929).
	cbType = "tls-server-end-point"
)

// maxAuthMessageLen bounds a client's message before it has authenticated.
const maxAuthMessageLen = 16 << 10

// authenticate establishes who the client is: by SCRAM-SHA-256 or by a
// cleartext password (the token), per Config.Auth. It answers a refused login
// itself (FATAL, audited) and then returns errLoginEnded.
func (ss *session) authenticate(ctx context.Context) (auth.Principal, error) {
	s := ss.srv
	if s.cfg.Auth == AuthPassword {
		ss.method = AuthPassword
		return ss.passwordLogin(ctx)
	}
	creds, legacy, err := s.deps.Auth.SCRAMCredentials(ctx, ss.user)
	if err != nil {
		s.logger.Error("token check failed", append(ss.log(), keyErr, err)...)
		ss.authFailed("the token store cannot be read")
		return auth.Principal{}, ss.fatalLogin(codeSystemError, "the token cannot be checked now")
	}
	if len(creds) == 0 && legacy > 0 {
		// Only tokens created before SCRAM verifiers were kept: they can
		// log in with a cleartext password, which the caller allows only
		// over TLS or from loopback.
		ss.method = AuthPassword
		return ss.passwordLogin(ctx)
	}
	ss.method = AuthSCRAM
	return ss.scramLogin(creds)
}

// passwordLogin asks for the token as a cleartext password.
func (ss *session) passwordLogin(ctx context.Context) (auth.Principal, error) {
	s := ss.srv
	if _, err := ss.client.Write(encode(&pgproto3.AuthenticationCleartextPassword{})); err != nil {
		return auth.Principal{}, err
	}
	typ, body, _, err := ss.cr.next()
	if err != nil {
		return auth.Principal{}, err
	}
	if typ != 'p' {
		ss.authFailed("protocol violation during authentication")
		return auth.Principal{}, ss.fatalLogin(codeProtocolViolation, fmt.Sprintf("expected a password message, got %q", typ))
	}
	secret, _, _ := cstring(body)
	p, err := s.deps.Auth.Authenticate(ctx, secret)
	switch {
	case errors.Is(err, auth.ErrInvalidToken):
		ss.authFailed("invalid token")
		return auth.Principal{}, ss.fatalLogin(codeInvalidPassword, fmt.Sprintf("password authentication failed for user %q", ss.user))
	case err != nil:
		s.logger.Error("token check failed", append(ss.log(), keyErr, err)...)
		ss.authFailed("the token store cannot be read")
		return auth.Principal{}, ss.fatalLogin(codeSystemError, "the token cannot be checked now")
	case p.User != ss.user:
		ss.authFailed("the token belongs to another user")
		return auth.Principal{}, ss.fatalLogin(codeInvalidPassword, fmt.Sprintf("password authentication failed for user %q", ss.user))
	}
	return p, nil
}

// scramLogin runs a SCRAM-SHA-256 exchange (RFC 5802, RFC 7677, as
// PostgreSQL frames it) against the verifiers of the user's tokens. The salt
// and iteration count are the user's (auth.SCRAMSalt), whether or not the
// user exists, so an unknown user's exchange runs to its end and fails like a
// wrong token's.
//
// Over TLS, SCRAM-SHA-256-PLUS is offered too, with tls-server-end-point
// channel binding (the hash of the gateway's certificate), as PostgreSQL
// does: it ties the proof to this TLS session, so a client that does not
// verify the certificate (sslmode=require) still detects a man in the
// middle. A client that says it supports channel binding but thinks the
// server does not ("y") is then refused, as RFC 5802 requires (a downgrade).
// Without TLS only SCRAM-SHA-256 is offered and a client insisting on
// channel binding is refused.
func (ss *session) scramLogin(creds []auth.SCRAMCredential) (auth.Principal, error) {
	malformed := func(what string) (auth.Principal, error) {
		ss.authFailed("malformed SCRAM exchange: " + what)
		return auth.Principal{}, ss.fatalLogin(codeProtocolViolation, "malformed SCRAM message: "+what)
	}
	cbData := ss.srv.cbData
	plus := ss.secure && cbData != nil
	mechs := []string{scramMechanism}
	if plus {
		mechs = []string{scramPlusMechanism, scramMechanism}
	}
	if _, err := ss.client.Write(encode(&pgproto3.AuthenticationSASL{AuthMechanisms: mechs})); err != nil {
		return auth.Principal{}, err
	}

	// client-first-message
	typ, body, _, err := ss.cr.next()
	if err != nil {
		return auth.Principal{}, err
	}
	if typ != 'p' {
		return malformed(fmt.Sprintf("expected SASLInitialResponse, got message type %q", typ))
	}
	var init pgproto3.SASLInitialResponse
	if err := init.Decode(body); err != nil {
		return malformed("bad SASLInitialResponse")
	}
	bound := init.AuthMechanism == scramPlusMechanism
	if init.AuthMechanism != scramMechanism && !(bound && plus) {
		return malformed(fmt.Sprintf("unsupported SASL mechanism %q", init.AuthMechanism))
	}
	flag, gs2, bare, clientNonce, msg := parseClientFirst(string(init.Data))
	switch {
	case msg != "":
		return malformed(msg)
	case bound && flag != "p="+cbType:
		return malformed("SCRAM-SHA-256-PLUS without " + cbType + " channel binding")
	case !bound && strings.HasPrefix(flag, "p="):
		return malformed("channel binding with SCRAM-SHA-256 (it needs SCRAM-SHA-256-PLUS)")
	case !bound && flag == "y" && plus:
		return malformed("the client supports channel binding but thinks the server does not (downgrade)")
	}
	cbInput := []byte(gs2)
	if bound {
		cbInput = append(cbInput, cbData...)
	}

	// server-first-message
	var nb [18]byte
	rand.Read(nb[:])
	nonce := clientNonce + base64.StdEncoding.EncodeToString(nb[:])
	serverFirst := "r=" + nonce + ",s=" + base64.StdEncoding.EncodeToString(auth.SCRAMSalt(ss.user)) +
		",i=" + strconv.Itoa(auth.SCRAMIterations)
	if _, err := ss.client.Write(encode(&pgproto3.AuthenticationSASLContinue{Data: []byte(serverFirst)})); err != nil {
		return auth.Principal{}, err
	}

	// client-final-message
	typ, body, _, err = ss.cr.next()
	if err != nil {
		return auth.Principal{}, err
	}
	if typ != 'p' {
		return malformed(fmt.Sprintf("expected SASLResponse, got message type %q", typ))
	}
	final := string(body) // SASLResponse: the message is the whole body
	i := strings.LastIndex(final, ",p=")
	if i < 0 {
		return malformed("no proof")
	}
	withoutProof, proofB64 := final[:i], final[i+3:]
	attrs := strings.Split(withoutProof, ",")
	if len(attrs) < 2 || attrs[0] != "c="+base64.StdEncoding.EncodeToString(cbInput) {
		return malformed("channel binding data do not match the GS2 header")
	}
	if attrs[1] != "r="+nonce {
		return malformed("nonce mismatch")
	}
	proof, err := base64.StdEncoding.DecodeString(proofB64)
	if err != nil || len(proof) != 32 {
		return malformed("bad proof")
	}

	authMessage := []byte(bare + "," + serverFirst + "," + withoutProof)
	var who auth.Principal
	var sig []byte
	for _, c := range creds {
		// Every verifier is tried, so the time taken does not say which
		// token matched.
		if s, ok := c.Verifier.Verify(authMessage, proof); ok && sig == nil {
			who, sig = c.Principal, s
		}
	}
	if sig == nil {
		reason := "invalid token"
		if len(creds) == 0 {
			reason = "unknown user"
		}
		ss.authFailed(reason)
		return auth.Principal{}, ss.fatalLogin(codeInvalidPassword, fmt.Sprintf("password authentication failed for user %q", ss.user))
	}
	ss.channelBound = bound
	final = "v=" + base64.StdEncoding.EncodeToString(sig)
	if _, err := ss.client.Write(encode(&pgproto3.AuthenticationSASLFinal{Data: []byte(final)})); err != nil {
		return auth.Principal{}, err
	}
	return who, nil
}

// parseClientFirst splits a client-first-message into its GS2 channel
// binding flag ("n", "y" or "p=<type>"), its GS2 header and the
// client-first-message-bare, and returns the client's nonce; msg says what
// is wrong with it, or is "".
func parseClientFirst(m string) (flag, gs2, bare, nonce, msg string) {
	fail := func(msg string) (string, string, string, string, string) { return "", "", "", "", msg }
	// gs2-header = gs2-cbind-flag "," [ authzid ] ","
	flag, rest, ok := strings.Cut(m, ",")
	if !ok {
		return fail("no GS2 header")
	}
	if flag != "n" && flag != "y" && !strings.HasPrefix(flag, "p=") {
		return fail("bad GS2 channel binding flag")
	}
	authzid, bare, ok := strings.Cut(rest, ",")
	if !ok {
		return fail("no GS2 header")
	}
	if authzid != "" {
		return fail("authorization identities are not supported")
	}
	gs2 = m[:len(m)-len(bare)]
	// client-first-message-bare = [reserved-mext ","] username "," nonce ["," extensions]
	parts := strings.Split(bare, ",")
	if len(parts) < 2 {
		return fail("bad client-first-message")
	}
	if strings.HasPrefix(parts[0], "m=") {
		return fail("mandatory extensions are not supported")
	}
	// The user name is the startup packet's; PostgreSQL clients send it
	// empty, and like PostgreSQL the gateway ignores it.
	if !strings.HasPrefix(parts[0], "n=") {
		return fail("no user name attribute")
	}
	nonce, ok = strings.CutPrefix(parts[1], "r=")
	if !ok || nonce == "" {
		return fail("no nonce")
	}
	for i := 0; i < len(nonce); i++ {
		if c := nonce[i]; c < 0x21 || c > 0x7e {
			return fail("the nonce has a non-printable character")
		}
	}
	return flag, gs2, bare, nonce, ""
}

// tlsServerEndPoint returns the tls-server-end-point channel binding data of
// the certificate of cfg (RFC 5929, section 4.1: the certificate's hash
// with its signature's hash function, SHA-256 for MD5 and SHA-1), or nil
// when there is none or its signature algorithm defines no binding.
func tlsServerEndPoint(cfg *tls.Config) []byte {
	// Only a configuration with one certificate says which one a client saw.
	if cfg == nil || len(cfg.Certificates) != 1 || len(cfg.Certificates[0].Certificate) == 0 ||
		cfg.GetCertificate != nil || cfg.GetConfigForClient != nil {
		return nil
	}
	cert, err := x509.ParseCertificate(cfg.Certificates[0].Certificate[0])
	if err != nil {
		return nil
	}
	var h hash.Hash
	switch cert.SignatureAlgorithm {
	case x509.MD5WithRSA, x509.SHA1WithRSA, x509.ECDSAWithSHA1,
		x509.SHA256WithRSA, x509.SHA256WithRSAPSS, x509.ECDSAWithSHA256:
		h = sha256.New()
	case x509.SHA384WithRSA, x509.SHA384WithRSAPSS, x509.ECDSAWithSHA384:
		h = sha512.New384()
	case x509.SHA512WithRSA, x509.SHA512WithRSAPSS, x509.ECDSAWithSHA512:
		h = sha512.New()
	default:
		return nil
	}
	h.Write(cert.Raw)
	return h.Sum(nil)
}
