// Package role names who a caller is. It has no dependencies so that ent
// schemas and the domain can share it.
package role

import (
	"fmt"
	"io"
	"strconv"
)

// Role is the kind of principal a token speaks for.
type Role string

// The roles of the API contract (§2).
const (
	User    Role = "USER"
	Admin   Role = "ADMIN"
	Service Role = "SERVICE"
)

// Values lists the roles; ent uses it for the enum column.
func (Role) Values() []string { return []string{string(User), string(Admin), string(Service)} }

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return r == User || r == Admin || r == Service }

// MarshalGQL writes the role as a GraphQL enum value.
func (r Role) MarshalGQL(w io.Writer) { _, _ = io.WriteString(w, strconv.Quote(string(r))) }

// UnmarshalGQL reads a GraphQL enum value.
func (r *Role) UnmarshalGQL(v any) error {
	s, ok := v.(string)
	if !ok || !Role(s).Valid() {
		return fmt.Errorf("%v is not a valid Role", v)
	}
	*r = Role(s)
	return nil
}
