package config

import (
	"strconv"
	"strings"
	"time"
)

// Webhooks configures the delivery of events to merchants' endpoints.
type Webhooks struct {
	// Retries are the delays between delivery attempts
	// (PAYGRAPH_WEBHOOK_RETRIES): an event gets one attempt, then one more
	// after each delay, then it is marked failed.
	Retries []time.Duration
	// AllowPrivate lets endpoint URLs point at loopback, private,
	// link-local and other non-public addresses
	// (PAYGRAPH_WEBHOOK_ALLOW_PRIVATE). The default is true with SQLite
	// (development: a receiver on the same machine) and false with
	// PostgreSQL (production: the server must not be made to call into
	// its own network).
	AllowPrivate bool
}

// DefaultWebhookRetries is PAYGRAPH_WEBHOOK_RETRIES's default: about three
// days of attempts.
var DefaultWebhookRetries = []time.Duration{
	10 * time.Second, time.Minute, 5 * time.Minute, 30 * time.Minute,
	2 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour, 24 * time.Hour,
}

// Bounds of PAYGRAPH_WEBHOOK_RETRIES: the whole schedule must end well
// inside the 30 days events are kept, and each delay must be one the
// dispatcher can wait for.
const (
	maxWebhookRetries       = 25
	maxWebhookRetryDelay    = 7 * 24 * time.Hour
	maxWebhookRetrySchedule = 14 * 24 * time.Hour
)

func (r *reader) webhooks(driver string) Webhooks {
	return Webhooks{
		Retries:      r.durations("PAYGRAPH_WEBHOOK_RETRIES", DefaultWebhookRetries),
		AllowPrivate: r.boolean("PAYGRAPH_WEBHOOK_ALLOW_PRIVATE", driver != "postgres"),
	}
}

// durations reads a comma list of positive durations.
func (r *reader) durations(name string, def []time.Duration) []time.Duration {
	v := r.str(name, "")
	if v == "" {
		return append([]time.Duration(nil), def...)
	}
	var out []time.Duration
	var total time.Duration
	for _, part := range strings.Split(v, ",") {
		p := strings.TrimSpace(part)
		d, err := time.ParseDuration(p)
		if err != nil || d <= 0 {
			r.fail(name, "%q is not a comma list of positive durations such as 10s,1m,5m", v)
			return def
		}
		if d > maxWebhookRetryDelay {
			r.fail(name, "%s is longer than the longest delay, %s", p, maxWebhookRetryDelay)
			return def
		}
		total += d
		out = append(out, d)
	}
	if len(out) > maxWebhookRetries {
		r.fail(name, "lists %d delays; at most %d", len(out), maxWebhookRetries)
		return def
	}
	if total > maxWebhookRetrySchedule {
		r.fail(name, "the delays add up to %s; at most %s, well inside the 30 days events are kept", total, maxWebhookRetrySchedule)
		return def
	}
	return out
}

// boolean reads true or false (also 1/0, yes/no, on/off).
func (r *reader) boolean(name string, def bool) bool {
	v := strings.ToLower(r.str(name, ""))
	switch v {
	case "":
		return def
	case "yes", "on":
		return true
	case "no", "off":
		return false
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		r.fail(name, "%q is not true or false", r.str(name, ""))
		return def
	}
	return b
}
