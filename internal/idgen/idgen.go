// Package idgen makes the 64-bit, time-ordered ids every entity uses.
//
// Layout (most significant first): 41 bits of milliseconds since 2024-01-01
// UTC, 10 bits of node number, 12 bits of sequence. Ids from one process are
// strictly increasing; ids from different nodes differ in the node bits.
package idgen

import (
	"crypto/rand"
	"encoding/binary"
	"sync"
	"time"
)

// Epoch is the zero of the id clock.
var Epoch = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

const (
	nodeBits = 10
	seqBits  = 12
	maxNode  = 1<<nodeBits - 1
	maxSeq   = 1<<seqBits - 1
)

// Generator hands out ids for one node.
type Generator struct {
	mu   sync.Mutex
	node int64
	last int64 // last millisecond used
	seq  int64
	now  func() time.Time
}

// New returns a generator for node (0–1023).
func New(node int64) *Generator {
	return &Generator{node: node & maxNode, now: time.Now}
}

// Next returns a new id, greater than every id this generator returned before.
func (g *Generator) Next() int64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	ms := g.now().Sub(Epoch).Milliseconds()
	if ms < g.last { // the clock went back: keep counting from the last tick
		ms = g.last
	}
	if ms == g.last {
		g.seq++
		if g.seq > maxSeq { // sequence exhausted in this ms: borrow the next one
			ms++
			g.seq = 0
		}
	} else {
		g.seq = 0
	}
	g.last = ms
	return ms<<(nodeBits+seqBits) | g.node<<seqBits | g.seq
}

// Time returns the moment an id was made.
func Time(id int64) time.Time {
	return Epoch.Add(time.Duration(id>>(nodeBits+seqBits)) * time.Millisecond)
}

// First returns the smallest id that can be made at t: every id made at t
// or later is at least First(t).
func First(t time.Time) int64 {
	return t.Sub(Epoch).Milliseconds() << (nodeBits + seqBits)
}

var (
	defaultMu  sync.Mutex
	defaultGen = New(randomNode())
)

func randomNode() int64 {
	var b [2]byte
	_, _ = rand.Read(b[:])
	return int64(binary.BigEndian.Uint16(b[:])) & maxNode
}

// SetNode fixes the node number of the process-wide generator.
func SetNode(node int64) {
	defaultMu.Lock()
	defer defaultMu.Unlock()
	defaultGen = New(node)
}

// Next returns a new id from the process-wide generator.
func Next() int64 {
	defaultMu.Lock()
	g := defaultGen
	defaultMu.Unlock()
	return g.Next()
}
