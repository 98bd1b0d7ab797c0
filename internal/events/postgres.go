package events

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// MaxUserIDs is how many UserIDs an event keeps when it travels through
// PostgreSQL. NOTIFY payloads must stay under 8000 bytes; 16 ids keep an
// event's JSON well under 1000 bytes, and no event concerns more than a few
// users (payer, payee, wallet owner). Later ids are dropped.
const MaxUserIDs = 16

const (
	// maxPayload is the largest JSON event Publish sends, safely under
	// PostgreSQL's 8000-byte NOTIFY limit.
	maxPayload = 7000
	// channelPrefix starts the NOTIFY channel name; the schema follows it.
	channelPrefix = "paygraph_events_"
	// maxIdentifier is PostgreSQL's identifier length (NAMEDATALEN-1):
	// LISTEN truncates longer names but pg_notify rejects them.
	maxIdentifier = 63

	minBackoff = 100 * time.Millisecond
	maxBackoff = 5 * time.Second
	// idleCheck is how long the listener waits without notifications
	// before pinging, so that a silently dead connection is noticed.
	idleCheck = 30 * time.Second
	// connectTimeout bounds one connection attempt and one ping.
	connectTimeout = 10 * time.Second
)

// Postgres is a Bus shared by every instance using the same database schema:
// Publish sends NOTIFY, and one LISTEN connection per instance hands what
// arrives to that instance's subscribers. Events this instance publishes
// reach its own subscribers the same way, so each is delivered once.
//
// Events sent while the listening connection is down are lost; when it is
// back, every subscriber is cut off so that it catches up from the database.
type Postgres struct {
	hub     *Local
	pool    *pgxpool.Pool // publishes, so the listener never delays Publish
	config  *pgx.ConnConfig
	channel string // NOTIFY channel name, unquoted
	log     *slog.Logger

	closed    atomic.Bool
	cancel    context.CancelFunc
	done      chan struct{} // closed when the listener goroutine returns
	closeOnce sync.Once
	pid       atomic.Uint32 // listening backend's process id, for tests
}

// NewPostgres connects to the database at dsn and listens for events there.
// The channel is named after the connection's current_schema(), so that
// instances on different schemas of one database (tests) do not see each
// other's events; a search_path=SCHEMA query parameter in dsn selects it.
// ctx bounds the initial connection only; log may be nil.
func NewPostgres(ctx context.Context, dsn string, log *slog.Logger) (*Postgres, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	config, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("events: parsing the database URL: %w", err)
	}
	poolConfig, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("events: parsing the database URL: %w", err)
	}
	poolConfig.MaxConns = 4

	conn, err := pgx.ConnectConfig(ctx, config)
	if err != nil {
		return nil, fmt.Errorf("events: connecting to listen: %w", err)
	}
	var schema *string
	if err := conn.QueryRow(ctx, "SELECT current_schema()").Scan(&schema); err != nil {
		closeConn(conn)
		return nil, fmt.Errorf("events: reading current_schema(): %w", err)
	}
	if schema == nil {
		closeConn(conn)
		return nil, errors.New("events: the search_path names no existing schema")
	}
	p := &Postgres{
		hub:     NewLocal(),
		config:  config,
		channel: channelName(*schema),
		log:     log,
		done:    make(chan struct{}),
	}
	if err := p.listen(ctx, conn); err != nil {
		closeConn(conn)
		return nil, err
	}
	p.pool, err = pgxpool.NewWithConfig(ctx, poolConfig)
	if err != nil {
		closeConn(conn)
		return nil, fmt.Errorf("events: opening the publishing pool: %w", err)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	go p.run(runCtx, conn)
	return p, nil
}

// channelName returns the NOTIFY channel for schema. Names too long for a
// PostgreSQL identifier use a hash of the schema instead, since LISTEN would
// silently truncate them and pg_notify would reject them.
func channelName(schema string) string {
	name := channelPrefix + schema
	if len(name) > maxIdentifier {
		sum := sha256.Sum256([]byte(schema))
		name = channelPrefix + hex.EncodeToString(sum[:16])
	}
	return name
}

// Publish sends evs with NOTIFY, in one statement so that either all or
// none are sent. Subscribers of every instance, this one included, receive
// them once the listening connections read them. PostgreSQL merges
// identical events of one call, which subscribers cannot tell apart anyway.
func (p *Postgres) Publish(ctx context.Context, evs ...Event) error {
	if p.closed.Load() {
		return ErrClosed
	}
	if len(evs) == 0 {
		return nil
	}
	payloads := make([]string, len(evs))
	for i, ev := range evs {
		b, err := encode(ev)
		if err != nil {
			return err
		}
		payloads[i] = b
	}
	if _, err := p.pool.Exec(ctx, "SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p", p.channel, payloads); err != nil {
		return fmt.Errorf("events: publishing: %w", err)
	}
	return nil
}

// encode returns ev's NOTIFY payload, keeping only MaxUserIDs users.
func encode(ev Event) (string, error) {
	if len(ev.UserIDs) > MaxUserIDs {
		ev.UserIDs = ev.UserIDs[:MaxUserIDs]
	}
	b, err := json.Marshal(ev)
	if err != nil {
		return "", fmt.Errorf("events: encoding %s event %d: %w", ev.Kind, ev.ID, err)
	}
	if len(b) > maxPayload {
		return "", fmt.Errorf("events: %s event %d is %d bytes, more than NOTIFY allows", ev.Kind, ev.ID, len(b))
	}
	return string(b), nil
}

// Subscribe returns a channel of the events, from any instance, for which
// match returns true. See Bus.Subscribe for when it is closed.
func (p *Postgres) Subscribe(ctx context.Context, match func(Event) bool) <-chan Event {
	return p.hub.Subscribe(ctx, match)
}

// Handle registers handle for the events for which match returns true;
// see Bus.Handle.
func (p *Postgres) Handle(ctx context.Context, match func(Event) bool, handle func(Event), done func()) {
	p.hub.Handle(ctx, match, handle, done)
}

// Close stops listening, waits for the listener goroutine, closes the
// publishing pool and every subscriber's channel. It is safe to call twice.
func (p *Postgres) Close() error {
	p.closeOnce.Do(func() {
		p.closed.Store(true)
		p.cancel()
		<-p.done
		p.pool.Close()
		p.hub.Close()
	})
	return nil
}

// listen subscribes conn to the channel.
func (p *Postgres) listen(ctx context.Context, conn *pgx.Conn) error {
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{p.channel}.Sanitize()); err != nil {
		return fmt.Errorf("events: listening on %s: %w", p.channel, err)
	}
	p.pid.Store(conn.PgConn().PID())
	return nil
}

// run hands notifications from conn to local subscribers until ctx ends,
// reconnecting whenever the connection is lost.
func (p *Postgres) run(ctx context.Context, conn *pgx.Conn) {
	defer close(p.done)
	for {
		err := p.receive(ctx, conn)
		closeConn(conn)
		if ctx.Err() != nil {
			return
		}
		p.log.Warn("events: listening connection lost; reconnecting", "channel", p.channel, "err", err)
		if conn = p.reconnect(ctx); conn == nil {
			return
		}
		// Events sent while nobody listened are lost: cut subscribers off
		// so that they catch up from the database.
		p.hub.cutAll()
		p.log.Info("events: listening again", "channel", p.channel)
	}
}

// receive delivers the notifications conn receives until ctx ends or conn
// fails, and returns why it stopped.
func (p *Postgres) receive(ctx context.Context, conn *pgx.Conn) error {
	for {
		wait, cancel := context.WithTimeout(ctx, idleCheck)
		n, err := conn.WaitForNotification(wait)
		cancel()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			if !pgconn.Timeout(err) && !errors.Is(err, context.DeadlineExceeded) {
				return fmt.Errorf("waiting for notifications: %w", err)
			}
			ping, cancel := context.WithTimeout(ctx, connectTimeout)
			err = conn.Ping(ping)
			cancel()
			if err != nil && ctx.Err() == nil {
				return fmt.Errorf("pinging an idle connection: %w", err)
			}
			continue
		}
		var ev Event
		if err := json.Unmarshal([]byte(n.Payload), &ev); err != nil {
			p.log.Warn("events: ignoring a malformed notification", "channel", p.channel, "payload", n.Payload, "err", err)
			continue
		}
		p.hub.deliver([]Event{ev})
	}
}

// reconnect connects and listens again, waiting minBackoff doubling up to
// maxBackoff between attempts; it returns nil when ctx ends first.
func (p *Postgres) reconnect(ctx context.Context) *pgx.Conn {
	delay := minBackoff
	for {
		timer := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case <-timer.C:
		}
		conn, err := p.connect(ctx)
		if err == nil {
			return conn
		}
		if ctx.Err() != nil {
			return nil
		}
		delay = min(2*delay, maxBackoff)
		p.log.Warn("events: reconnecting failed", "channel", p.channel, "retry_in", delay, "err", err)
	}
}

// connect opens a listening connection.
func (p *Postgres) connect(ctx context.Context) (*pgx.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, p.config)
	if err != nil {
		return nil, fmt.Errorf("events: connecting to listen: %w", err)
	}
	if err := p.listen(ctx, conn); err != nil {
		closeConn(conn)
		return nil, err
	}
	return conn, nil
}

// closeConn closes conn, bounded in time since the server may be gone.
func closeConn(conn *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = conn.Close(ctx)
}
