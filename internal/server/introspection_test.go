package server_test

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/paygraph/paygraph/internal/testutil"
)

// TestSchemaIsDescribed runs GraphiQL's introspection query and fails
// naming every type, field, argument, input field and enum value without
// a description, and every description that speaks of the project's
// internal source documents ("seed") instead of the API. A newcomer reads
// the schema in GraphiQL: every name there must say what it is.
func TestSchemaIsDescribed(t *testing.T) {
	srv := testutil.Start(t, testutil.Base(t))
	r := srv.Client().Do(t, introspectionQuery, nil)
	var out struct {
		Schema introspectedSchema `json:"__schema"`
	}
	r.Decode(t, &out)
	if len(out.Schema.Types) == 0 {
		t.Fatal("introspection returned no types")
	}

	var problems []string
	check := func(where, desc string) {
		switch {
		case strings.TrimSpace(desc) == "":
			problems = append(problems, where+": no description")
		case seedWord.MatchString(desc):
			problems = append(problems, fmt.Sprintf("%s: description says seed: %q", where, desc))
		}
	}
	checkName := func(where string) {
		if seedWord.MatchString(where) {
			problems = append(problems, where+": name says seed")
		}
	}
	for _, ty := range out.Schema.Types {
		if strings.HasPrefix(ty.Name, "__") || builtinScalars[ty.Name] {
			continue
		}
		checkName(ty.Name)
		check(ty.Name, ty.Description)
		for _, f := range ty.Fields {
			where := ty.Name + "." + f.Name
			checkName(where)
			check(where, f.Description)
			for _, a := range f.Args {
				checkName(where + "(" + a.Name + ")")
				check(where+"("+a.Name+")", a.Description)
			}
		}
		for _, f := range ty.InputFields {
			checkName(ty.Name + "." + f.Name)
			check(ty.Name+"."+f.Name, f.Description)
		}
		for _, v := range ty.EnumValues {
			checkName(ty.Name + "." + v.Name)
			check(ty.Name+"."+v.Name, v.Description)
		}
	}
	for _, d := range out.Schema.Directives {
		if builtinDirectives[d.Name] {
			continue
		}
		checkName("@" + d.Name)
		check("@"+d.Name, d.Description)
		for _, a := range d.Args {
			check("@"+d.Name+"("+a.Name+")", a.Description)
		}
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		t.Fatalf("%d schema elements are not described as they should be:\n  %s",
			len(problems), strings.Join(problems, "\n  "))
	}
}

// seedWord matches "seed" in any case: the source documents are called so
// inside the project, never in the API.
var seedWord = regexp.MustCompile(`(?i)seed`)

// builtinScalars and builtinDirectives are GraphQL's own, described by the
// specification (gqlgen's @goField and @goModel configure code generation).
var (
	builtinScalars    = map[string]bool{"String": true, "Int": true, "Float": true, "Boolean": true, "ID": true}
	builtinDirectives = map[string]bool{"include": true, "skip": true, "deprecated": true, "specifiedBy": true,
		"oneOf": true, "defer": true, "goField": true, "goModel": true}
)

type introspectedSchema struct {
	Types []struct {
		Kind, Name, Description string
		Fields                  []struct {
			Name, Description string
			Args              []introspectedValue
		}
		InputFields []introspectedValue
		EnumValues  []struct{ Name, Description string }
	}
	Directives []struct {
		Name, Description string
		Args              []introspectedValue
	}
}

type introspectedValue struct{ Name, Description string }
