package events

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net/url"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// wait bounds every wait for an event or a closed channel.
const wait = 10 * time.Second

// recv returns the next event on ch, failing if ch closes or stays empty.
func recv(t *testing.T, ch <-chan Event) Event {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if !ok {
			t.Fatal("channel closed; want an event")
		}
		return ev
	case <-time.After(wait):
		t.Fatal("no event received")
	}
	return Event{}
}

// recvN returns the next n events on ch.
func recvN(t *testing.T, ch <-chan Event, n int) []Event {
	t.Helper()
	evs := make([]Event, n)
	for i := range evs {
		evs[i] = recv(t, ch)
	}
	return evs
}

// closed waits for ch to close and returns the events still buffered in it.
func closed(t *testing.T, ch <-chan Event) []Event {
	t.Helper()
	var evs []Event
	timeout := time.After(wait)
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				return evs
			}
			evs = append(evs, ev)
		case <-timeout:
			t.Fatalf("channel not closed (%d events received)", len(evs))
		}
	}
}

// empty fails if ch holds an event or is closed.
func empty(t *testing.T, ch <-chan Event) {
	t.Helper()
	select {
	case ev, ok := <-ch:
		t.Fatalf("got %+v (open %v); want nothing", ev, ok)
	default:
	}
}

func order(id int64) Event { return Event{Kind: KindOrder, ID: id, OrderID: id} }

func wallet(id int64) Event { return Event{Kind: KindWallet, ID: id, WalletID: id} }

func TestLocalPublishSubscribe(t *testing.T) {
	bus := NewLocal()
	defer bus.Close()
	ctx := t.Context()
	a, b := bus.Subscribe(ctx, nil), bus.Subscribe(ctx, nil)
	want := []Event{order(1), {Kind: KindWallet, ID: 2, WalletID: 3, UserIDs: []int64{4, 5}, AppID: 6}}
	if err := bus.Publish(ctx, want...); err != nil {
		t.Fatal(err)
	}
	for _, ch := range []<-chan Event{a, b} {
		if got := recvN(t, ch, 2); !reflect.DeepEqual(got, want) {
			t.Errorf("got %+v; want %+v", got, want)
		}
		empty(t, ch)
	}
}

func TestLocalPublishCopiesUserIDs(t *testing.T) {
	bus := NewLocal()
	defer bus.Close()
	ch := bus.Subscribe(t.Context(), nil)
	users := []int64{1, 2}
	if err := bus.Publish(t.Context(), Event{Kind: KindOrder, UserIDs: users}); err != nil {
		t.Fatal(err)
	}
	users[0] = 99
	if got := recv(t, ch).UserIDs; !reflect.DeepEqual(got, []int64{1, 2}) {
		t.Errorf("UserIDs = %v; want [1 2] despite the publisher reusing its slice", got)
	}
}

func TestLocalMatch(t *testing.T) {
	bus := NewLocal()
	defer bus.Close()
	ctx := t.Context()
	wallets := bus.Subscribe(ctx, func(ev Event) bool { return ev.Kind == KindWallet })
	user7 := bus.Subscribe(ctx, func(ev Event) bool {
		for _, u := range ev.UserIDs {
			if u == 7 {
				return true
			}
		}
		return false
	})
	mine := Event{Kind: KindOrder, ID: 3, UserIDs: []int64{6, 7}}
	if err := bus.Publish(ctx, order(1), wallet(2), mine, wallet(4)); err != nil {
		t.Fatal(err)
	}
	if got, want := recvN(t, wallets, 2), []Event{wallet(2), wallet(4)}; !reflect.DeepEqual(got, want) {
		t.Errorf("wallets got %+v; want %+v", got, want)
	}
	if got := recv(t, user7); !reflect.DeepEqual(got, mine) {
		t.Errorf("user 7 got %+v; want %+v", got, mine)
	}
	empty(t, wallets)
	empty(t, user7)
}

func TestLocalContextEnds(t *testing.T) {
	bus := NewLocal()
	defer bus.Close()
	ctx, cancel := context.WithCancel(t.Context())
	ch := bus.Subscribe(ctx, nil)
	other := bus.Subscribe(t.Context(), nil)
	cancel()
	if evs := closed(t, ch); len(evs) != 0 {
		t.Errorf("got %+v after cancel", evs)
	}
	if n := bus.len(); n != 1 {
		t.Errorf("%d subscribers registered; want 1", n)
	}
	if err := bus.Publish(t.Context(), order(1)); err != nil {
		t.Fatal(err)
	}
	if got := recv(t, other); !reflect.DeepEqual(got, order(1)) {
		t.Errorf("other got %+v", got)
	}

	// A context already ended gets a closed channel and no registration.
	if evs := closed(t, bus.Subscribe(ctx, nil)); len(evs) != 0 {
		t.Errorf("got %+v", evs)
	}
	if n := bus.len(); n != 1 {
		t.Errorf("%d subscribers registered; want 1", n)
	}
}

func TestLocalSlowSubscriberIsCutOff(t *testing.T) {
	bus := NewLocal()
	defer bus.Close()
	ctx := t.Context()
	slow := bus.Subscribe(ctx, nil)
	fast := bus.Subscribe(ctx, nil)
	for i := range int64(Buffer + 1) {
		if err := bus.Publish(ctx, order(i)); err != nil {
			t.Fatal(err)
		}
		if got := recv(t, fast); got.ID != i {
			t.Fatalf("fast got %+v; want event %d", got, i)
		}
	}
	// The slow subscriber keeps what fitted in its buffer, then sees its
	// channel closed instead of silently missing event Buffer.
	evs := closed(t, slow)
	if len(evs) != Buffer {
		t.Fatalf("slow got %d events before the close; want %d", len(evs), Buffer)
	}
	for i, ev := range evs {
		if ev.ID != int64(i) {
			t.Fatalf("slow event %d is %+v", i, ev)
		}
	}
	if err := bus.Publish(ctx, order(100)); err != nil {
		t.Fatal(err)
	}
	if got := recv(t, fast); got.ID != 100 {
		t.Errorf("fast got %+v after the slow one was cut off", got)
	}
	if n := bus.len(); n != 1 {
		t.Errorf("%d subscribers registered; want 1", n)
	}
}

func TestLocalClose(t *testing.T) {
	bus := NewLocal()
	ctx := t.Context()
	a, b := bus.Subscribe(ctx, nil), bus.Subscribe(ctx, func(Event) bool { return false })
	if err := bus.Close(); err != nil {
		t.Fatal(err)
	}
	closed(t, a)
	closed(t, b)
	closed(t, bus.Subscribe(ctx, nil))
	if err := bus.Publish(ctx, order(1)); !errors.Is(err, ErrClosed) {
		t.Errorf("Publish after Close: %v; want ErrClosed", err)
	}
	if err := bus.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestChannelName(t *testing.T) {
	if got := channelName("t_ab12"); got != "paygraph_events_t_ab12" {
		t.Errorf("channelName = %q", got)
	}
	long1, long2 := strings.Repeat("s", 63), strings.Repeat("s", 62)+"t"
	n1, n2 := channelName(long1), channelName(long2)
	if len(n1) > maxIdentifier || n1 == n2 || n1 != channelName(long1) {
		t.Errorf("long schemas: %q and %q", n1, n2)
	}
}

func TestEncodeCapsUserIDs(t *testing.T) {
	ev := Event{Kind: KindWallet, ID: 1<<63 - 1, OrderID: 1<<63 - 1, WalletID: 1<<63 - 1, AppID: 1<<63 - 1}
	for range 100 {
		ev.UserIDs = append(ev.UserIDs, -1<<63)
	}
	p, err := encode(ev)
	if err != nil {
		t.Fatal(err)
	}
	if len(p) > 1000 {
		t.Errorf("payload is %d bytes", len(p))
	}
	if len(ev.UserIDs) != 100 {
		t.Error("encode changed the caller's event")
	}
	if _, err := encode(Event{Kind: Kind(strings.Repeat("k", 8000))}); err == nil {
		t.Error("an oversized event was accepted")
	}
}

// postgresURL returns the test database or skips the test.
func postgresURL(t *testing.T) string {
	t.Helper()
	u := os.Getenv("PAYGRAPH_TEST_POSTGRES_URL")
	if u == "" {
		t.Skip("PAYGRAPH_TEST_POSTGRES_URL is unset")
	}
	return u
}

// newSchema creates a schema dropped when t ends, and returns base with a
// search_path selecting it.
func newSchema(t *testing.T, base string) string {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "t_" + hex.EncodeToString(b[:])
	admin(t, base, "CREATE SCHEMA "+schema)
	t.Cleanup(func() { admin(t, base, "DROP SCHEMA "+schema+" CASCADE") })
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// admin runs sql on its own connection to base.
func admin(t *testing.T, base, sql string, args ...any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("PostgreSQL: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// newPostgres returns a bus on dsn closed when t ends.
func newPostgres(t *testing.T, dsn string) *Postgres {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	defer cancel()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	bus, err := NewPostgres(ctx, dsn, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := bus.Close(); err != nil {
			t.Error(err)
		}
	})
	return bus
}

func TestPostgresAcrossInstances(t *testing.T) {
	base := postgresURL(t)
	dsn, otherDSN := newSchema(t, base), newSchema(t, base)
	a, b, other := newPostgres(t, dsn), newPostgres(t, dsn), newPostgres(t, otherDSN)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	subA, subB, subOther := a.Subscribe(ctx, nil), b.Subscribe(ctx, nil), other.Subscribe(ctx, nil)

	full := Event{Kind: KindWallet, ID: 1<<62 + 1, OrderID: 2, WalletID: 3, UserIDs: []int64{4, -5, 6}, AppID: 7}
	many := Event{Kind: KindOrder, ID: 9}
	for i := range int64(20) {
		many.UserIDs = append(many.UserIDs, i)
	}
	if err := b.Publish(ctx, full); err != nil {
		t.Fatal(err)
	}
	if err := b.Publish(ctx, order(8), many); err != nil {
		t.Fatal(err)
	}
	// Markers from both instances: each reaches the other one only through
	// LISTEN, after everything committed before it, so a duplicate anywhere
	// would show up before them.
	if err := a.Publish(ctx, order(10)); err != nil {
		t.Fatal(err)
	}
	if err := b.Publish(ctx, order(11)); err != nil {
		t.Fatal(err)
	}
	capped := many
	capped.UserIDs = many.UserIDs[:MaxUserIDs]
	want := []Event{full, order(8), capped, order(10), order(11)}
	for name, ch := range map[string]<-chan Event{"A": subA, "B": subB} {
		if got := recvN(t, ch, len(want)); !reflect.DeepEqual(got, want) {
			t.Errorf("%s got %+v; want %+v", name, got, want)
		}
	}

	// The other schema's bus listens on another channel: had it received
	// the events above, they would come before its own, published later.
	if err := other.Publish(ctx, wallet(12)); err != nil {
		t.Fatal(err)
	}
	if got := recv(t, subOther); !reflect.DeepEqual(got, wallet(12)) {
		t.Errorf("the other schema got %+v; want only its own event", got)
	}
}

func TestPostgresMatchAndContext(t *testing.T) {
	dsn := newSchema(t, postgresURL(t))
	bus := newPostgres(t, dsn)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	subCtx, subCancel := context.WithCancel(ctx)
	wallets := bus.Subscribe(subCtx, func(ev Event) bool { return ev.Kind == KindWallet })
	if err := bus.Publish(ctx, order(1), wallet(2)); err != nil {
		t.Fatal(err)
	}
	if got := recv(t, wallets); !reflect.DeepEqual(got, wallet(2)) {
		t.Errorf("got %+v; want %+v", got, wallet(2))
	}
	subCancel()
	closed(t, wallets)
}

func TestPostgresReconnects(t *testing.T) {
	base := postgresURL(t)
	dsn := newSchema(t, base)
	bus, publisher := newPostgres(t, dsn), newPostgres(t, dsn)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	before := bus.Subscribe(ctx, nil)
	pid := bus.pid.Load()

	admin(t, base, "SELECT pg_terminate_backend($1)", int64(pid))
	// Events sent while nobody listened are lost, so subscribers are cut
	// off once the bus listens again.
	closed(t, before)
	if bus.pid.Load() == pid {
		t.Fatal("the listening connection was not replaced")
	}
	after := bus.Subscribe(ctx, nil)
	if err := publisher.Publish(ctx, order(1)); err != nil {
		t.Fatal(err)
	}
	if got := recv(t, after); !reflect.DeepEqual(got, order(1)) {
		t.Errorf("got %+v after reconnecting", got)
	}
}

func TestPostgresClose(t *testing.T) {
	bus := newPostgres(t, newSchema(t, postgresURL(t)))
	ch := bus.Subscribe(t.Context(), nil)
	if err := bus.Close(); err != nil {
		t.Fatal(err)
	}
	closed(t, ch)
	if err := bus.Publish(t.Context(), order(1)); !errors.Is(err, ErrClosed) {
		t.Errorf("Publish after Close: %v; want ErrClosed", err)
	}
}

func TestPostgresMissingSchema(t *testing.T) {
	u, err := url.Parse(postgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", "t_does_not_exist")
	u.RawQuery = q.Encode()
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	defer cancel()
	if bus, err := NewPostgres(ctx, u.String(), nil); err == nil {
		bus.Close()
		t.Fatal("NewPostgres accepted a search_path naming no schema")
	}
}

// handled records what a Handle subscription receives; handle waits on
// gate (if set) after noting each event in entered.
type handled struct {
	gate    chan struct{}
	entered chan Event
	done    chan struct{}
	got     chan Event
}

func handleAll(ctx context.Context, bus Bus, match func(Event) bool, gate chan struct{}) *handled {
	h := &handled{gate: gate, entered: make(chan Event, 4*Buffer), done: make(chan struct{}), got: make(chan Event, 4*Buffer)}
	bus.Handle(ctx, match, func(ev Event) {
		h.entered <- ev
		if h.gate != nil {
			<-h.gate
		}
		h.got <- ev
	}, func() { close(h.done) })
	return h
}

// ended waits for done and returns what was handled.
func (h *handled) ended(t *testing.T) []Event {
	t.Helper()
	select {
	case <-h.done:
	case <-time.After(5 * time.Second):
		t.Fatal("done did not run")
	}
	close(h.got)
	var evs []Event
	for ev := range h.got {
		evs = append(evs, ev)
	}
	return evs
}

func TestLocalHandle(t *testing.T) {
	bus := NewLocal()
	defer bus.Close()
	ctx, cancel := context.WithCancel(t.Context())
	wallets := handleAll(ctx, bus, func(ev Event) bool { return ev.Kind == KindWallet }, nil)
	for i := range int64(3) {
		if err := bus.Publish(ctx, order(i), wallet(10+i)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range int64(3) {
		select {
		case ev := <-wallets.got:
			if ev.ID != 10+i {
				t.Fatalf("event %d is %+v; want wallet %d", i, ev, 10+i)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("event %d did not arrive", i)
		}
	}
	cancel()
	if evs := wallets.ended(t); len(evs) != 0 {
		t.Errorf("handled %+v after its context ended", evs)
	}
	if err := bus.Publish(t.Context(), wallet(99)); err != nil {
		t.Fatal(err)
	}
	if n := bus.len(); n != 0 {
		t.Errorf("%d subscribers registered; want 0", n)
	}
	// A subscription whose context has ended is done at once.
	late := handleAll(ctx, bus, nil, nil)
	late.ended(t)
}

func TestLocalSlowHandlerIsCutOff(t *testing.T) {
	bus := NewLocal()
	defer bus.Close()
	ctx := t.Context()
	gate := make(chan struct{})
	slow := handleAll(ctx, bus, nil, gate)
	fast := bus.Subscribe(ctx, nil)
	if err := bus.Publish(ctx, order(0)); err != nil {
		t.Fatal(err)
	}
	<-slow.entered // busy with event 0: Buffer more may wait
	recv(t, fast)
	for i := range int64(Buffer + 1) {
		if err := bus.Publish(ctx, order(1+i)); err != nil {
			t.Fatal(err)
		}
		if got := recv(t, fast); got.ID != 1+i {
			t.Fatalf("fast got %+v; want event %d", got, 1+i)
		}
	}
	close(gate)
	// The slow one gets what waited, then is done rather than silently
	// missing the last event.
	evs := slow.ended(t)
	if len(evs) != Buffer+1 {
		t.Fatalf("slow handled %d events before it was cut off; want %d", len(evs), Buffer+1)
	}
	for i, ev := range evs {
		if ev.ID != int64(i) {
			t.Fatalf("slow event %d is %+v", i, ev)
		}
	}
	if n := bus.len(); n != 1 {
		t.Errorf("%d subscribers registered; want 1", n)
	}
}

func TestLocalCloseEndsHandlers(t *testing.T) {
	bus := NewLocal()
	ctx := t.Context()
	gate := make(chan struct{})
	h := handleAll(ctx, bus, nil, gate)
	idle := handleAll(ctx, bus, func(Event) bool { return false }, nil)
	if err := bus.Publish(ctx, order(1), order(2)); err != nil {
		t.Fatal(err)
	}
	<-h.entered
	if err := bus.Close(); err != nil {
		t.Fatal(err)
	}
	idle.ended(t)
	close(gate)
	if evs := h.ended(t); len(evs) != 2 {
		t.Errorf("handled %+v before the close; want both events", evs)
	}
	handleAll(ctx, bus, nil, nil).ended(t)
}
