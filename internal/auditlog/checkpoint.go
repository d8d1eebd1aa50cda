package auditlog

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
)

// Checkpoint is the parsed body of a signed checkpoint note (C2SP tlog-checkpoint):
//
//	<origin>
//	<size>
//	<base64 root hash>
type Checkpoint struct {
	Origin string
	Size   uint64
	Root   []byte
}

// Text returns the checkpoint body as it is signed.
func (c Checkpoint) Text() string {
	return fmt.Sprintf("%s\n%d\n%s\n", c.Origin, c.Size, base64.StdEncoding.EncodeToString(c.Root))
}

// SignCheckpoint returns the signed note for c.
func SignCheckpoint(c Checkpoint, s note.Signer) ([]byte, error) {
	msg, err := note.Sign(&note.Note{Text: c.Text()}, s)
	if err != nil {
		return nil, fmt.Errorf("sign checkpoint at size %d: %w", c.Size, err)
	}
	return msg, nil
}

// OpenCheckpoint verifies a signed checkpoint note with v and parses its body. The
// origin line must be the verifier's name.
func OpenCheckpoint(msg []byte, v note.Verifier) (Checkpoint, error) {
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		var unverified *note.UnverifiedNoteError
		if errors.As(err, &unverified) {
			return Checkpoint{}, fmt.Errorf("checkpoint is not signed by %s", v.Name())
		}
		return Checkpoint{}, fmt.Errorf("checkpoint signature: %w", err)
	}
	c, err := ParseCheckpoint(n.Text)
	if err != nil {
		return Checkpoint{}, err
	}
	if c.Origin != v.Name() {
		return Checkpoint{}, fmt.Errorf("checkpoint origin %q is not the log's origin %q", c.Origin, v.Name())
	}
	return c, nil
}

// ParseCheckpoint parses an (already verified) checkpoint body.
func ParseCheckpoint(text string) (Checkpoint, error) {
	lines := strings.SplitN(text, "\n", 4)
	if len(lines) < 4 {
		return Checkpoint{}, errors.New("checkpoint: want origin, size and root lines")
	}
	var c Checkpoint
	c.Origin = lines[0]
	if c.Origin == "" {
		return Checkpoint{}, errors.New("checkpoint: empty origin line")
	}
	size, err := strconv.ParseUint(lines[1], 10, 64)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("checkpoint: size line %q is not a number", lines[1])
	}
	c.Size = size
	root, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(root) != 32 {
		return Checkpoint{}, fmt.Errorf("checkpoint: root line %q is not a base64 SHA-256 hash", lines[2])
	}
	c.Root = root
	return c, nil
}

// Key file names in the data directory.
const (
	SignerKeyFile   = "signing.key"
	VerifierKeyFile = "signing.pub"
)

// LoadOrCreateKey returns the log's signing key from dir, creating an Ed25519 key
// named origin on first use. An existing key keeps its own name; if origin is set
// and differs, that is an error, because checkpoints already signed name the old
// origin.
func LoadOrCreateKey(dir, origin string) (note.Signer, note.Verifier, error) {
	skPath := filepath.Join(dir, SignerKeyFile)
	sk, err := os.ReadFile(skPath)
	if errors.Is(err, os.ErrNotExist) {
		if origin == "" {
			return nil, nil, errors.New("create signing key: empty origin")
		}
		skey, vkey, err := note.GenerateKey(rand.Reader, origin)
		if err != nil {
			return nil, nil, fmt.Errorf("create signing key: %w", err)
		}
		if err := writeFileAtomic(filepath.Join(dir, VerifierKeyFile), []byte(vkey+"\n"), 0o644); err != nil {
			return nil, nil, err
		}
		if err := writeFileAtomic(skPath, []byte(skey+"\n"), 0o600); err != nil {
			return nil, nil, err
		}
		sk = []byte(skey)
	} else if err != nil {
		return nil, nil, fmt.Errorf("read signing key: %w", err)
	}
	signer, err := note.NewSigner(string(bytes.TrimSpace(sk)))
	if err != nil {
		return nil, nil, fmt.Errorf("signing key %s: %w", skPath, err)
	}
	if origin != "" && signer.Name() != origin {
		return nil, nil, fmt.Errorf("signing key %s is for origin %q, but the configured origin is %q", skPath, signer.Name(), origin)
	}
	verifier, err := LoadVerifier(filepath.Join(dir, VerifierKeyFile))
	if err != nil {
		return nil, nil, err
	}
	if verifier.Name() != signer.Name() || verifier.KeyHash() != signer.KeyHash() {
		return nil, nil, fmt.Errorf("%s does not match %s", VerifierKeyFile, SignerKeyFile)
	}
	return signer, verifier, nil
}

// LoadVerifier reads a verifier key (as printed by `vigil audit pubkey`) from a file.
func LoadVerifier(path string) (note.Verifier, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read verifier key: %w", err)
	}
	v, err := note.NewVerifier(string(bytes.TrimSpace(b)))
	if err != nil {
		return nil, fmt.Errorf("verifier key %s: %w", path, err)
	}
	return v, nil
}

func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path))
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
