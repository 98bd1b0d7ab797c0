package auth

import (
	"sync"

	"golang.org/x/crypto/bcrypt"
)

// Passwords hashes and checks secrets with bcrypt.
type Passwords struct {
	Cost int
}

// DefaultPasswords uses bcrypt's default cost.
var DefaultPasswords = Passwords{Cost: bcrypt.DefaultCost}

// dummyHash is compared against when a user does not exist, so that a login
// for an unknown name takes as long as one with a wrong password.
var dummyHash = sync.OnceValue(func() []byte {
	h, _ := bcrypt.GenerateFromPassword([]byte("paygraph-dummy-password"), bcrypt.DefaultCost)
	return h
})

// Hash returns the bcrypt hash of secret.
func (p Passwords) Hash(secret string) (string, error) {
	cost := p.Cost
	if cost == 0 {
		cost = bcrypt.DefaultCost
	}
	h, err := bcrypt.GenerateFromPassword([]byte(secret), cost)
	return string(h), err
}

// Check reports whether secret matches hash. An empty hash never matches
// but costs the same time.
func (p Passwords) Check(hash, secret string) bool {
	if hash == "" {
		_ = bcrypt.CompareHashAndPassword(dummyHash(), []byte(secret))
		return false
	}
	return bcrypt.CompareHashAndPassword([]byte(hash), []byte(secret)) == nil
}
