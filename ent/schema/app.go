package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
)

// App is a merchant application: a game, a store, a marketplace. Its server
// speaks to paygraph with a SERVICE token. App 1 always exists (the app store's
// default app_id).
type App struct{ ent.Schema }

// Mixin of App.
func (App) Mixin() []ent.Mixin { return []ent.Mixin{IDMixin{}, TimeMixin{}} }

// Fields of App.
func (App) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").NotEmpty().MaxLen(64).
			Comment("The app's name, 1–64 characters."),
		// token_version is embedded in service tokens; raising it revokes them.
		field.Int("token_version").Default(1).Annotations(hidden()),
	}
}

// Annotations of App.
func (App) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput),
		entgql.RelayConnection(),
		entgql.QueryField("apps").Directives(adminDirective()).
			Description("ADMIN: every app. first or last at most 100, default 20."),
		schema.Comment("A merchant application (a game, a shop, a marketplace) whose server calls paygraph " +
			"with a SERVICE token; orders belong to an app. App 1 exists from the start (the app store's " +
			"default app_id). Seen by ADMIN, the app's SERVICE and a USER with an order in it."),
	}
}
