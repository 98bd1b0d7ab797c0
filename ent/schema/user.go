package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"

	"github.com/paygraph/paygraph/internal/role"
)

// User is a person who pays or is paid.
type User struct{ ent.Schema }

// Mixin of User.
func (User) Mixin() []ent.Mixin { return []ent.Mixin{IDMixin{}, TimeMixin{}} }

// Fields of User.
func (User) Fields() []ent.Field {
	return []ent.Field{
		// username is stored lower-case, so "Alice" and "alice" are one name.
		field.String("username").Unique().NotEmpty().MaxLen(32).
			Comment("The sign-in name: 3–32 letters, digits, _ . -, lower-case, unique."),
		field.String("password_hash").Sensitive().Annotations(hidden()),
		// token_version is raised to revoke every token of the user (logout,
		// a password change); tokens carry the version they were issued at.
		field.Int("token_version").Default(0).Annotations(hidden()),
		// email, mobile and national_code are private: schema/user.graphql
		// exposes them to the user and to ADMIN/SERVICE only.
		field.String("email").Optional().Annotations(hidden()),
		field.String("mobile").Optional().Annotations(hidden()),
		field.String("national_code").Optional().Annotations(hidden()),
		field.Enum("role").GoType(role.Role("")).Default(string(role.User)).
			Comment("USER for a person, ADMIN for an operator.").
			Annotations(entgql.Type("Role"), EnumDoc{
				Type: "Who a token speaks for, and so what it may do.",
				Values: map[string]string{
					"USER":    "A person who pays and is paid: acts only for itself.",
					"ADMIN":   "The operator: may act for any user and sees everything.",
					"SERVICE": "An app's server (one token per app): creates and reads its app's orders, never spends a user's money.",
				},
			}),

		// The escrow marketplace: the public profile shown on orders, the pay
		// password and the lockout counters of the pay password and of
		// confirmPassword (the login password re-checked).
		field.String("nickname").Optional().MaxLen(64).
			Comment("The public name set with updateProfile (the escrow marketplace's name); name falls back to the username."),
		field.String("avatar").Optional().MaxLen(1024).
			Comment("The avatar URL set with updateProfile (the escrow marketplace's avatar)."),
		field.String("pay_password_hash").Optional().Sensitive().Annotations(hidden()),
		field.Int("pay_password_failures").Default(0).Annotations(hidden()),
		field.Time("pay_password_locked_until").Optional().Nillable().Annotations(hidden()),
		field.Int("confirm_password_failures").Default(0).Annotations(hidden()),
		field.Time("confirm_password_locked_until").Optional().Nillable().Annotations(hidden()),

		// The token checkout's second factor (internal/twofactor). auth_type is the
		// factor pay asks for (NONE until one is chosen); bind_ga says an
		// authenticator app was bound with enableTotp. The TOTP secrets are
		// AES-GCM encrypted and never shown after enableTotp; totp_last_step
		// is the last accepted 30 s step (a step is accepted once).
		// totp_failures/totp_locked_until count wrong GA codes;
		// verify_code_sent_at limits sendPaymentVerifyCode to once a minute.
		field.Enum("auth_type").Values("NONE", "GA", "MOBILE", "EMAIL").Default("NONE").Annotations(hidden()),
		field.Bool("bind_ga").Default(false).Annotations(hidden()),
		field.String("totp_secret").Optional().Sensitive().Annotations(hidden()),
		field.String("totp_pending_secret").Optional().Sensitive().Annotations(hidden()),
		field.Int64("totp_last_step").Default(0).Annotations(hidden()),
		field.Int("totp_failures").Default(0).Annotations(hidden()),
		field.Time("totp_locked_until").Optional().Nillable().Annotations(hidden()),
		field.Time("verify_code_sent_at").Optional().Nillable().Annotations(hidden()),
	}
}

// Annotations of User.
func (User) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput),
		entgql.RelayConnection(),
		entgql.QueryField("users").Directives(adminDirective()).
			Description("ADMIN: every user (where: {usernameContainsFold: …} finds one by name). first or last at most 100, default 20."),
		schema.Comment("An account: a person who pays and is paid (USER) or an operator (ADMIN). Seen by ADMIN, " +
			"the user itself, a USER who shares an order with it and the SERVICE of an app where it pays or is " +
			"paid; contacts and second-factor fields say who sees them."),
	}
}
