package auth

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// LoadOrCreateSecret reads the token key kept in path, or makes a random one
// and writes it there with mode 0600. created says whether it was made now.
// A key file readable by others is refused rather than trusted.
func LoadOrCreateSecret(path string) (secret []byte, created bool, err error) {
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		st, err := os.Stat(path)
		if err != nil {
			return nil, false, err
		}
		if st.Mode().Perm()&0o077 != 0 {
			return nil, false, fmt.Errorf("%s is readable by other users (mode %v); chmod 600 it", path, st.Mode().Perm())
		}
		s := strings.TrimSpace(string(b))
		if len(s) < 32 {
			return nil, false, fmt.Errorf("%s holds a key shorter than 32 characters", path)
		}
		return []byte(s), false, nil
	case errors.Is(err, fs.ErrNotExist):
		var raw [32]byte
		if _, err := rand.Read(raw[:]); err != nil {
			return nil, false, err
		}
		s := hex.EncodeToString(raw[:])
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			if errors.Is(err, fs.ErrExist) { // another process made it first
				return LoadOrCreateSecret(path)
			}
			return nil, false, err
		}
		if _, err := f.WriteString(s + "\n"); err != nil {
			f.Close()
			return nil, false, err
		}
		if err := f.Close(); err != nil {
			return nil, false, err
		}
		return []byte(s), true, nil
	default:
		return nil, false, err
	}
}
