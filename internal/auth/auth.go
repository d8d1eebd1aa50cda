// Package auth issues and checks Vigil's API tokens. A token is a random secret
// shown once; the store keeps only its SHA-256, and, for the PostgreSQL
// gateway's SCRAM-SHA-256 logins, its SCRAM verifier (see SCRAMVerifier).
// Each token carries one role.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/vigil-audit/vigil/internal/store"
)

// Roles.
const (
	RoleAdmin   = "admin"
	RoleAuditor = "auditor"
	RoleUser    = "user"
)

// ValidRole reports whether r is a role tokens may carry.
func ValidRole(r string) bool { return r == RoleAdmin || r == RoleAuditor || r == RoleUser }

// CanRead reports whether a role may read the audit log.
func CanRead(role string) bool { return role == RoleAdmin || role == RoleAuditor }

const tokenPrefix = "vgl_"

// ErrInvalidToken is returned for a token that is malformed or unknown.
var ErrInvalidToken = errors.New("invalid token")

// Principal is an authenticated caller.
type Principal struct {
	User string
	Role string
}

// Hash returns the stored form of a token secret.
func Hash(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// Create makes a new token for user with role, stores its hash and its SCRAM
// verifier, and returns the secret, which is never stored.
func Create(ctx context.Context, st store.Store, user, role string) (string, error) {
	if !ValidRole(role) {
		return "", fmt.Errorf("role %q: must be admin, auditor or user", role)
	}
	if user == "" || len(user) > 256 || strings.ContainsAny(user, " \t\r\n") {
		return "", fmt.Errorf("user %q: must be a non-empty name without spaces", user)
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("create token: %w", err)
	}
	secret := tokenPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	v, err := NewSCRAMVerifier(secret, SCRAMSalt(user), SCRAMIterations)
	if err != nil {
		return "", fmt.Errorf("create token: %w", err)
	}
	t := store.Token{Hash: Hash(secret), User: user, Role: role, CreatedAt: time.Now().UTC(), SCRAM: v.String()}
	if err := st.PutToken(ctx, t); err != nil {
		return "", fmt.Errorf("create token: %w", err)
	}
	return secret, nil
}

// Authenticator resolves token secrets to principals, caching lookups briefly.
type Authenticator struct {
	st  store.Store
	ttl time.Duration

	mu    sync.Mutex
	cache map[string]cached
}

type cached struct {
	p   Principal
	exp time.Time
}

// NewAuthenticator returns an Authenticator over st.
func NewAuthenticator(st store.Store) *Authenticator {
	return &Authenticator{st: st, ttl: 30 * time.Second, cache: map[string]cached{}}
}

// Authenticate returns the principal of a token secret, or ErrInvalidToken.
func (a *Authenticator) Authenticate(ctx context.Context, secret string) (Principal, error) {
	if !strings.HasPrefix(secret, tokenPrefix) || len(secret) > 128 {
		return Principal{}, ErrInvalidToken
	}
	h := Hash(secret)
	key := string(h)
	now := time.Now()
	a.mu.Lock()
	c, ok := a.cache[key]
	a.mu.Unlock()
	if ok && now.Before(c.exp) {
		return c.p, nil
	}
	t, err := a.st.TokenByHash(ctx, h)
	if errors.Is(err, store.ErrNotFound) {
		return Principal{}, ErrInvalidToken
	}
	if err != nil {
		return Principal{}, fmt.Errorf("authenticate: %w", err)
	}
	p := Principal{User: t.User, Role: t.Role}
	a.mu.Lock()
	if len(a.cache) > 10000 {
		clear(a.cache)
	}
	a.cache[key] = cached{p: p, exp: now.Add(a.ttl)}
	a.mu.Unlock()
	return p, nil
}
