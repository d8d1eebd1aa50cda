package auth_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vigil-audit/vigil/internal/auth"
	"github.com/vigil-audit/vigil/internal/store"
	"github.com/vigil-audit/vigil/internal/store/sqlite"
)

func openStore(t *testing.T) (*sqlite.Store, string) {
	t.Helper()
	dir := t.TempDir()
	st, err := sqlite.Open(context.Background(), filepath.Join(dir, "vigil.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st, dir
}

var secretRE = regexp.MustCompile(`^vgl_[A-Za-z0-9_-]{43}$`)

func TestCreateStoresOnlyTheHash(t *testing.T) {
	ctx := context.Background()
	st, dir := openStore(t)
	before := time.Now().UTC().Add(-time.Second)
	secret, err := auth.Create(ctx, st, "alice", auth.RoleAuditor)
	if err != nil {
		t.Fatal(err)
	}
	if !secretRE.MatchString(secret) {
		t.Fatalf("secret %q is not vgl_ + 32 random bytes in base64url", secret)
	}
	want := sha256.Sum256([]byte(secret))
	if h := auth.Hash(secret); !bytes.Equal(h, want[:]) {
		t.Fatalf("Hash(secret) = %x; want SHA-256 %x", h, want)
	}
	tok, err := st.TokenByHash(ctx, auth.Hash(secret))
	if err != nil {
		t.Fatalf("TokenByHash(Hash(secret)): %v", err)
	}
	if tok.User != "alice" || tok.Role != auth.RoleAuditor || !bytes.Equal(tok.Hash, want[:]) {
		t.Fatalf("stored token = %+v", tok)
	}
	if tok.CreatedAt.Before(before) || tok.CreatedAt.After(time.Now().Add(time.Second)) || tok.CreatedAt.Location() != time.UTC {
		t.Fatalf("created_at = %v", tok.CreatedAt)
	}
	// The secret cannot be looked up as itself...
	if _, err := st.TokenByHash(ctx, []byte(secret)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("TokenByHash(secret) = %v; want ErrNotFound", err)
	}
	// ...and appears nowhere in the database files.
	st.Close()
	files, _ := filepath.Glob(filepath.Join(dir, "vigil.db*"))
	if len(files) == 0 {
		t.Fatal("no database files")
	}
	random := strings.TrimPrefix(secret, "vgl_")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(random)) {
			t.Fatalf("%s holds the token secret", f)
		}
	}
	found := false
	for _, f := range files {
		b, _ := os.ReadFile(f)
		found = found || bytes.Contains(b, want[:])
	}
	if !found {
		t.Fatal("the token's hash is in no database file; the check above proves nothing")
	}
}

func TestCreateSecretsDistinct(t *testing.T) {
	ctx := context.Background()
	st, _ := openStore(t)
	seen := map[string]bool{}
	for i := range 50 {
		role := []string{auth.RoleAdmin, auth.RoleAuditor, auth.RoleUser}[i%3]
		s, err := auth.Create(ctx, st, "svc-deploy", role)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(s, "vgl_") || !secretRE.MatchString(s) {
			t.Fatalf("secret %q", s)
		}
		if seen[s] {
			t.Fatalf("secret %q issued twice", s)
		}
		seen[s] = true
	}
	for _, tt := range []struct {
		role string
		want int
	}{{"", 50}, {auth.RoleAdmin, 17}, {auth.RoleAuditor, 17}, {auth.RoleUser, 16}} {
		if n, err := st.CountTokens(ctx, tt.role); err != nil || n != tt.want {
			t.Errorf("CountTokens(%q) = %d, %v; want %d", tt.role, n, err, tt.want)
		}
	}
}

func TestCreateErrors(t *testing.T) {
	ctx := context.Background()
	st, _ := openStore(t)
	tests := []struct {
		user, role string
		want       string
	}{
		{"alice", "root", `role "root": must be admin, auditor or user`},
		{"alice", "", `role "": must be admin, auditor or user`},
		{"alice", "Admin", `role "Admin": must be admin, auditor or user`},
		{"", auth.RoleUser, `user "": must be a non-empty name without spaces`},
		{"alice smith", auth.RoleUser, `user "alice smith": must be a non-empty name without spaces`},
		{"alice\t", auth.RoleUser, `user "alice\t": must be a non-empty name without spaces`},
		{"alice\nadmin", auth.RoleUser, `user "alice\nadmin": must be a non-empty name without spaces`},
		{strings.Repeat("u", 257), auth.RoleUser, `user "` + strings.Repeat("u", 257) + `": must be a non-empty name without spaces`},
		{strings.Repeat("u", 256), auth.RoleUser, ""},
		{"bob@example.com", auth.RoleAdmin, ""},
	}
	for _, tt := range tests {
		s, err := auth.Create(ctx, st, tt.user, tt.role)
		if tt.want == "" {
			if err != nil || s == "" {
				t.Errorf("Create(%q, %q) = %q, %v; want a token", tt.user, tt.role, s, err)
			}
			continue
		}
		if err == nil || err.Error() != tt.want || s != "" {
			t.Errorf("Create(%.20q, %q) = %q, %v\nwant error %s", tt.user, tt.role, s, err, tt.want)
		}
	}
	if n, _ := st.CountTokens(ctx, ""); n != 2 {
		t.Fatalf("%d tokens stored; want only the 2 valid ones", n)
	}
}

func TestAuthenticate(t *testing.T) {
	ctx := context.Background()
	st, _ := openStore(t)
	admin, _ := auth.Create(ctx, st, "root-ops", auth.RoleAdmin)
	auditor, _ := auth.Create(ctx, st, "carol", auth.RoleAuditor)
	user, _ := auth.Create(ctx, st, "ci-bot", auth.RoleUser)
	// A 128-byte secret is the longest accepted; store one directly.
	longest := "vgl_" + strings.Repeat("m", 124)
	if err := st.PutToken(ctx, store.Token{Hash: auth.Hash(longest), User: "maxi", Role: auth.RoleUser, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	over := longest + "m"
	if err := st.PutToken(ctx, store.Token{Hash: auth.Hash(over), User: "over", Role: auth.RoleAdmin, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	// A stored hash of a secret without the prefix is still refused.
	if err := st.PutToken(ctx, store.Token{Hash: auth.Hash("plain"), User: "plain", Role: auth.RoleAdmin, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	flip := []byte(admin)
	flip[len(flip)-1] ^= 1

	a := auth.NewAuthenticator(st)
	tests := []struct {
		name   string
		secret string
		want   auth.Principal
		err    error
	}{
		{"admin", admin, auth.Principal{User: "root-ops", Role: "admin"}, nil},
		{"auditor", auditor, auth.Principal{User: "carol", Role: "auditor"}, nil},
		{"user", user, auth.Principal{User: "ci-bot", Role: "user"}, nil},
		{"128 bytes", longest, auth.Principal{User: "maxi", Role: "user"}, nil},
		{"admin again (cached)", admin, auth.Principal{User: "root-ops", Role: "admin"}, nil},
		{"unknown", "vgl_" + strings.Repeat("A", 43), auth.Principal{}, auth.ErrInvalidToken},
		{"one bit off", string(flip), auth.Principal{}, auth.ErrInvalidToken},
		{"empty", "", auth.Principal{}, auth.ErrInvalidToken},
		{"prefix only", "vgl_", auth.Principal{}, auth.ErrInvalidToken},
		{"no prefix", strings.TrimPrefix(admin, "vgl_"), auth.Principal{}, auth.ErrInvalidToken},
		{"stored without prefix", "plain", auth.Principal{}, auth.ErrInvalidToken},
		{"upper-case prefix", "VGL_" + strings.TrimPrefix(admin, "vgl_"), auth.Principal{}, auth.ErrInvalidToken},
		{"with scheme", "Bearer " + admin, auth.Principal{}, auth.ErrInvalidToken},
		{"trailing space", admin + " ", auth.Principal{}, auth.ErrInvalidToken},
		{"overlong, stored", over, auth.Principal{}, auth.ErrInvalidToken},
		{"overlong", admin + strings.Repeat("x", 200), auth.Principal{}, auth.ErrInvalidToken},
	}
	for _, tt := range tests {
		p, err := a.Authenticate(ctx, tt.secret)
		if p != tt.want || err != tt.err {
			t.Errorf("%s: Authenticate = %+v, %v; want %+v, %v", tt.name, p, err, tt.want, tt.err)
		}
		if err != nil && err.Error() != "invalid token" {
			t.Errorf("%s: error text %q", tt.name, err)
		}
	}
}

// A store failure is not an invalid token: the caller must not mistake an outage
// for a bad credential. A principal already looked up is served from the cache.
func TestAuthenticateStoreFailure(t *testing.T) {
	ctx := context.Background()
	st, _ := openStore(t)
	cached, _ := auth.Create(ctx, st, "alice", auth.RoleAdmin)
	other, _ := auth.Create(ctx, st, "bob", auth.RoleUser)
	a := auth.NewAuthenticator(st)
	if _, err := a.Authenticate(ctx, cached); err != nil {
		t.Fatal(err)
	}
	st.Close()
	if p, err := a.Authenticate(ctx, cached); err != nil || p != (auth.Principal{User: "alice", Role: "admin"}) {
		t.Fatalf("cached Authenticate = %+v, %v", p, err)
	}
	p, err := a.Authenticate(ctx, other)
	if err == nil || errors.Is(err, auth.ErrInvalidToken) || !strings.HasPrefix(err.Error(), "authenticate: ") || p != (auth.Principal{}) {
		t.Fatalf("Authenticate on a closed store = %+v, %v; want a store error", p, err)
	}
}

func TestRoles(t *testing.T) {
	tests := []struct {
		role          string
		valid, reader bool
	}{
		{"admin", true, true},
		{"auditor", true, true},
		{"user", true, false},
		{"", false, false},
		{"root", false, false},
		{"ADMIN", false, false},
	}
	for _, tt := range tests {
		if got := auth.ValidRole(tt.role); got != tt.valid {
			t.Errorf("ValidRole(%q) = %v", tt.role, got)
		}
		if got := auth.CanRead(tt.role); got != tt.reader {
			t.Errorf("CanRead(%q) = %v", tt.role, got)
		}
	}
}
