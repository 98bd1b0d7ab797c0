package admin

// Source is a file of static/ as embedded, before its imports are
// versioned.
func Source(name string) []byte {
	b, err := embedded.ReadFile("static/" + name)
	if err != nil {
		panic(err)
	}
	return b
}
