//go:build ignore

// entc.go generates the ent client and, through entgql, schema/ent.graphql.
package main

import (
	"encoding/json"
	"fmt"
	"log"
	"strings"

	"entgo.io/contrib/entgql"
	"entgo.io/ent/entc"
	"entgo.io/ent/entc/gen"
	entschema "entgo.io/ent/schema"
	"github.com/vektah/gqlparser/v2/ast"
)

func main() {
	ex, err := entgql.NewExtension(
		entgql.WithConfigPath("./gqlgen.yml"),
		entgql.WithSchemaGenerator(),
		entgql.WithSchemaPath("./schema/ent.graphql"),
		entgql.WithWhereInputs(true),
		entgql.WithNodeDescriptor(false),
		entgql.WithSchemaHook(describe),
	)
	if err != nil {
		log.Fatalf("creating entgql extension: %v", err)
	}
	err = entc.Generate("./ent/schema", &gen.Config{
		Target:   "./ent",
		Package:  "github.com/paygraph/paygraph/ent",
		Features: []gen.Feature{gen.FeatureLock, gen.FeatureModifier, gen.FeatureUpsert, gen.FeatureExecQuery},
	}, entc.Extensions(ex))
	if err != nil {
		log.Fatalf("running ent codegen: %v", err)
	}
}

// describe gives every generated type, field, input field and enum value a
// description, so the schema a client introspects explains itself:
//
//   - an entity type takes the text of its schema.Comment annotation (its
//     fields and edges take their Comment through entgql itself);
//   - an enum takes the EnumDoc annotation of the field that declares it;
//   - the filters (…WhereInput), orderings (…OrderField) and scalars entgql
//     adds are described here, mechanically, from their names.
func describe(g *gen.Graph, s *ast.Schema) error {
	for _, n := range g.Nodes {
		def := s.Types[gqlName(n.Name, n.Annotations)]
		if def == nil {
			continue // not in the GraphQL schema
		}
		var c entschema.CommentAnnotation
		if err := decode(n.Annotations, c.Name(), &c); err != nil {
			return err
		}
		if c.Text == "" {
			return fmt.Errorf("%s: give the schema a schema.Comment annotation: it describes the GraphQL type", n.Name)
		}
		def.Description = c.Text
		if err := nilFilterOnly(n, s.Types[def.Name+"WhereInput"]); err != nil {
			return err
		}
		for _, f := range n.Fields {
			if !f.IsEnum() {
				continue
			}
			var doc struct {
				Type   string
				Values map[string]string
			}
			if err := decode(f.Annotations, "EnumDoc", &doc); err != nil {
				return err
			}
			if doc.Type == "" {
				continue
			}
			enum := s.Types[gqlName("", f.Annotations)]
			if enum == nil {
				return fmt.Errorf("%s.%s: an EnumDoc needs the field's entgql.Type", n.Name, f.Name)
			}
			enum.Description = doc.Type
			for _, v := range enum.EnumValues {
				if v.Description = doc.Values[v.Name]; v.Description == "" {
					return fmt.Errorf("%s.%s: EnumDoc does not describe %s", n.Name, f.Name, v.Name)
				}
			}
		}
	}
	for _, def := range s.Types {
		switch {
		case def.Name == "Query":
			def.Description = "What may be read. Each field says who may call it; every entity returned is filtered by who may see it."
		case def.Name == "Time":
			def.Description = "A point in time, as an RFC 3339 string with its offset (2024-07-01T16:47:32Z)."
		case def.Kind == ast.InputObject && strings.HasSuffix(def.Name, "WhereInput"):
			describeWhere(def)
		case def.Kind == ast.Enum && strings.HasSuffix(def.Name, "OrderField"):
			for _, v := range def.EnumValues {
				v.Description = "By " + lowerCamel(v.Name) + "."
			}
		}
	}
	return nil
}

// nilFilterOnly keeps, of the filter predicates of each field of n marked
// NilFilterOnly (ent/schema/annotations.go), only IsNil and NotNil. The
// first kept takes over entgql's "<field> field predicates" mark, which
// describeWhere reads.
func nilFilterOnly(n *gen.Type, where *ast.Definition) error {
	for _, f := range n.Fields {
		if _, ok := f.Annotations["NilFilterOnly"]; !ok {
			continue
		}
		if where == nil || !f.Nillable {
			return fmt.Errorf("%s.%s: NilFilterOnly needs a nillable field in a WhereInput", n.Name, f.Name)
		}
		base := lowerCamel(f.Name)
		var kept ast.FieldList
		var mark string
		for _, fd := range where.Fields {
			op, ours := strings.CutPrefix(fd.Name, base)
			if ours && strings.HasSuffix(fd.Description, " field predicates") {
				mark = fd.Description
			}
			if ours && op != "IsNil" && op != "NotNil" {
				continue
			}
			if ours && mark != "" {
				fd.Description, mark = mark, ""
			}
			kept = append(kept, fd)
		}
		if len(kept) != len(where.Fields)-len(f.Ops())+2 {
			return fmt.Errorf("%s.%s: NilFilterOnly kept %d of %d filter fields", n.Name, f.Name, len(kept), len(where.Fields))
		}
		where.Fields = kept
	}
	return nil
}

// describeWhere describes a generated filter and each of its predicates.
// entgql marks the first predicate of each field "<field> field
// predicates" and of each edge "<edge> edge predicates"; the predicates
// after it share its name as their prefix.
func describeWhere(def *ast.Definition) {
	entity := strings.TrimSuffix(def.Name, "WhereInput")
	def.Description = "Filters " + entity + " values: one matches when it meets every predicate given; and, or and not combine filters."
	var base string
	for _, f := range def.Fields {
		d := f.Description
		switch {
		case strings.HasSuffix(d, " field predicates"):
			// A NilFilterOnly field's first predicate is its IsNil.
			base = strings.TrimSuffix(f.Name, "IsNil")
		case strings.HasSuffix(d, " edge predicates"):
			base = ""
		}
		isTime := f.Type.Name() == "Time"
		switch name := f.Name; {
		case name == "not":
			f.Description = "Matches what this filter does not match."
		case name == "and":
			f.Description = "Matches what every one of these filters matches."
		case name == "or":
			f.Description = "Matches what at least one of these filters matches."
		case base == "" && strings.HasSuffix(name, "With"):
			edge := lowerFirst(strings.TrimSuffix(strings.TrimPrefix(name, "has"), "With"))
			f.Description = "Only those whose " + edge + " matches every one of these filters."
		case base == "":
			edge := lowerFirst(strings.TrimPrefix(name, "has"))
			f.Description = "true: only those with " + article(edge) + " " + edge + "; false: only those without one."
		default:
			f.Description = predicate(base, strings.TrimPrefix(name, base), isTime)
		}
	}
}

// predicate describes the predicate op of field (entgql's suffixes).
func predicate(field, op string, isTime bool) string {
	cmp := map[string]string{"GT": "greater than", "GTE": "greater than or equal to", "LT": "less than", "LTE": "less than or equal to"}
	if isTime {
		cmp = map[string]string{"GT": "after", "GTE": "at or after", "LT": "before", "LTE": "at or before"}
	}
	switch op {
	case "":
		return field + " equals this."
	case "NEQ":
		return field + " differs from this."
	case "In":
		return field + " is one of these."
	case "NotIn":
		return field + " is none of these."
	case "GT", "GTE", "LT", "LTE":
		if field == "id" {
			return "id is " + cmp[op] + " this (ids grow with creation time)."
		}
		return field + " is " + cmp[op] + " this."
	case "Contains":
		return field + " contains this text (case-sensitive)."
	case "HasPrefix":
		return field + " starts with this text."
	case "HasSuffix":
		return field + " ends with this text."
	case "EqualFold":
		return field + " equals this text, ignoring case."
	case "ContainsFold":
		return field + " contains this text, ignoring case."
	case "IsNil":
		return "true: only those where " + field + " is not set."
	case "NotNil":
		return "true: only those where " + field + " is set."
	}
	log.Fatalf("entc: no description for the predicate %s%s; add its suffix to predicate()", field, op)
	return ""
}

// gqlName is the GraphQL name entgql gives a node or enum field: its
// entgql.Type annotation, or the node's name.
func gqlName(name string, ants gen.Annotations) string {
	var a entgql.Annotation
	if err := decode(ants, a.Name(), &a); err == nil && a.Type != "" {
		return a.Type
	}
	return name
}

// decode reads the annotation called name into v (left as it is when
// there is none).
func decode(ants gen.Annotations, name string, v any) error {
	raw, ok := ants[name]
	if !ok {
		return nil
	}
	b, err := json.Marshal(raw)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// lowerCamel turns an enum value (RECEIVED_AT) into a field name (receivedAt).
func lowerCamel(s string) string {
	parts := strings.Split(strings.ToLower(s), "_")
	for i := 1; i < len(parts); i++ {
		if parts[i] != "" {
			parts[i] = strings.ToUpper(parts[i][:1]) + parts[i][1:]
		}
	}
	return strings.Join(parts, "")
}

// article is "an" before a vowel, "a" otherwise.
func article(word string) string {
	if word != "" && strings.ContainsRune("aeiou", rune(word[0])) {
		return "an"
	}
	return "a"
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}
