// Package config reads paygraph's configuration from the environment
// (API contract §1). Every bad value is reported as one line that names the
// variable, and nothing starts.
package config

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/paygraph/paygraph/internal/rsakey"
)

// Database says which engine to open and how.
type Database struct {
	// Driver is "sqlite" or "postgres".
	Driver string
	// Path is the SQLite file (Driver "sqlite"); ":memory:" is allowed for tests.
	Path string
	// URL is the PostgreSQL connection URL (Driver "postgres").
	URL string
	// CountStatements keeps a count of every SQL statement run, by text
	// (set with PAYGRAPH_DEBUG_ADDR; served there at /debug/sql).
	CountStatements bool
}

// Asset is a currency or token with a fixed number of decimals.
type Asset struct {
	Code  string
	Scale int
}

// Config is the whole of paygraph's configuration.
type Config struct {
	Addr      string
	Database  Database
	PublicURL string
	// JWTSecret is empty when it is to be generated and kept beside the database.
	JWTSecret     []byte
	TokenTTL      time.Duration
	AdminUsername string
	AdminPassword string
	LogFormat     string // text or json
	LogLevel      string // debug, info, warn, error
	NodeID        int64  // -1: random
	MaxBodyBytes  int64
	QueryDepth    int
	Complexity    int
	Requests      Requests

	Assets []Asset

	EpayURL               string // empty: the embedded sandbox
	EpayPID               string
	EpayKey               string
	EpayPrivateKey        string
	EpayPlatformPublicKey string
	// EpaySignType is the API version: MD5 (V1) or RSA (V2). Default: RSA
	// with the embedded sandbox or when a private key is given, else MD5.
	EpaySignType string
	// EpayTimeout bounds each call to the gateway.
	EpayTimeout time.Duration

	PingppURL       string
	PingppAppID     string
	PingppSecretKey string
	// PingppPublicKey is the PEM text of Ping++'s webhook key
	// (PAYGRAPH_PINGPP_PUBLIC_KEY, or the file PAYGRAPH_PINGPP_PUBLIC_KEY_FILE).
	PingppPublicKey string

	GameCallbackKey  string
	GameCallbackSign string // md5 or hmac-sha256

	OrderTTL          time.Duration
	EscrowAutoConfirm time.Duration
	// EscrowRefundWindow is how long after a deal is confirmed its buyer
	// may still ask for a refund.
	EscrowRefundWindow time.Duration

	SMTPURL string
	SMSURL  string
	// TwoFactorKey seals TOTP secrets and hashes sent codes; empty: derived
	// from the token key.
	TwoFactorKey []byte

	// Conns bounds connections, streams and subscriptions.
	Conns Connections
	// CORS lists the other origins whose pages may call the API.
	CORS CORS

	// DebugAddr, when set, is a loopback address serving net/http/pprof
	// and the SQL statement counts; empty: no such listener.
	DebugAddr string
	// Webhooks configures the delivery of events to merchants' endpoints.
	Webhooks Webhooks
}

// Error is a configuration error: one line naming the variable.
type Error struct {
	Var    string
	Reason string
}

func (e *Error) Error() string { return e.Var + ": " + e.Reason }

type reader struct {
	get func(string) string
	err *Error
}

func (r *reader) fail(name, format string, args ...any) {
	if r.err == nil {
		r.err = &Error{Var: name, Reason: fmt.Sprintf(format, args...)}
	}
}

func (r *reader) str(name, def string) string {
	if v := strings.TrimSpace(r.get(name)); v != "" {
		return v
	}
	return def
}

func (r *reader) duration(name string, def time.Duration) time.Duration {
	v := r.str(name, "")
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		r.fail(name, "%q is not a positive duration such as 30m or 24h", v)
		return def
	}
	return d
}

func (r *reader) integer(name string, def, min, max int64) int64 {
	v := r.str(name, "")
	if v == "" {
		return def
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < min || n > max {
		r.fail(name, "%q is not a whole number from %d to %d", v, min, max)
		return def
	}
	return n
}

func (r *reader) oneOf(name, def string, allowed ...string) string {
	v := r.str(name, def)
	for _, a := range allowed {
		if v == a {
			return v
		}
	}
	r.fail(name, "%q is not one of %s", v, strings.Join(allowed, ", "))
	return def
}

func (r *reader) httpURL(name string) string {
	v := r.str(name, "")
	if v == "" {
		return ""
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		r.fail(name, "%q is not an http(s) URL", v)
		return ""
	}
	return strings.TrimRight(v, "/")
}

// pem reads an RSA public key given as PEM text in name (a literal "\n"
// counts as a line break, for one-line environment files) or in the file
// named by name_FILE.
func (r *reader) pem(name string) string {
	text, file := r.str(name, ""), r.str(name+"_FILE", "")
	switch {
	case text != "" && file != "":
		r.fail(name, "set either %s or %s_FILE, not both", name, name)
		return ""
	case file != "":
		b, err := readFile(file)
		if err != nil {
			r.fail(name+"_FILE", "%q cannot be read: %v", file, err)
			return ""
		}
		text, name = string(b), name+"_FILE"
	case text == "":
		return ""
	}
	text = strings.ReplaceAll(text, `\n`, "\n")
	if _, err := rsakey.ParsePublic(text); err != nil {
		r.fail(name, "is not a usable RSA public key: %s", err)
		return ""
	}
	return text
}

var readFile = os.ReadFile

// Load reads the configuration through getenv (os.Getenv in production).
func Load(getenv func(string) string) (*Config, error) {
	r := &reader{get: getenv}
	c := &Config{}

	c.Addr = r.str("PAYGRAPH_ADDR", "127.0.0.1:8080")
	if _, port, err := net.SplitHostPort(c.Addr); err != nil {
		r.fail("PAYGRAPH_ADDR", "%q is not host:port", c.Addr)
	} else if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		r.fail("PAYGRAPH_ADDR", "%q has no valid port", c.Addr)
	}

	db, err := ParseDatabaseURL(r.str("PAYGRAPH_DATABASE_URL", "sqlite://paygraph.db"))
	if err != nil {
		r.fail("PAYGRAPH_DATABASE_URL", "%s", err)
	}
	c.Database = db

	c.DebugAddr = r.str("PAYGRAPH_DEBUG_ADDR", "")
	if c.DebugAddr != "" {
		host, _, err := net.SplitHostPort(c.DebugAddr)
		if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
			r.fail("PAYGRAPH_DEBUG_ADDR", "%q is not a loopback host:port such as 127.0.0.1:6060", c.DebugAddr)
		}
		c.Database.CountStatements = true
	}

	c.PublicURL = r.httpURL("PAYGRAPH_PUBLIC_URL")
	if c.PublicURL == "" {
		c.PublicURL = "http://" + c.Addr
	}

	if s := r.get("PAYGRAPH_JWT_SECRET"); s != "" {
		if len(s) < 32 {
			r.fail("PAYGRAPH_JWT_SECRET", "must be at least 32 characters long")
		}
		c.JWTSecret = []byte(s)
	} else if c.Database.Driver == "postgres" {
		r.fail("PAYGRAPH_JWT_SECRET", "must be set with PostgreSQL, so that every instance signs tokens with the same key")
	}
	c.TokenTTL = r.duration("PAYGRAPH_TOKEN_TTL", 24*time.Hour)

	if a := r.get("PAYGRAPH_ADMIN"); a != "" {
		user, pass, ok := strings.Cut(a, ":")
		if !ok || user == "" || pass == "" {
			r.fail("PAYGRAPH_ADMIN", "must be username:password")
		}
		c.AdminUsername, c.AdminPassword = user, pass
	}

	c.LogFormat = r.oneOf("PAYGRAPH_LOG_FORMAT", "text", "text", "json")
	c.LogLevel = r.oneOf("PAYGRAPH_LOG_LEVEL", "info", "debug", "info", "warn", "error")
	c.NodeID = r.integer("PAYGRAPH_NODE_ID", -1, 0, 1023)
	c.MaxBodyBytes = r.integer("PAYGRAPH_MAX_BODY_BYTES", 1<<20, 1024, 64<<20)
	c.QueryDepth = int(r.integer("PAYGRAPH_MAX_QUERY_DEPTH", 12, 2, 100))
	c.Complexity = int(r.integer("PAYGRAPH_MAX_COMPLEXITY", 2000, 10, 1000000))
	c.Conns = r.connections()
	c.Requests = r.requests()
	c.CORS = r.cors()
	c.Webhooks = r.webhooks(c.Database.Driver)

	assets, err := ParseAssets(r.str("PAYGRAPH_ASSETS", "CNY:2,POINTS:0,BTC:8,USDT:6"))
	if err != nil {
		r.fail("PAYGRAPH_ASSETS", "%s", err)
	}
	c.Assets = assets

	c.EpayURL = r.httpURL("PAYGRAPH_EPAY_URL")
	c.EpayPID = r.str("PAYGRAPH_EPAY_PID", "1000")
	c.EpayKey = r.str("PAYGRAPH_EPAY_KEY", "")
	c.EpayPrivateKey = r.str("PAYGRAPH_EPAY_PRIVATE_KEY", "")
	c.EpayPlatformPublicKey = r.str("PAYGRAPH_EPAY_PLATFORM_PUBLIC_KEY", "")
	if c.EpayURL != "" && c.EpayKey == "" && c.EpayPrivateKey == "" {
		r.fail("PAYGRAPH_EPAY_KEY", "must be set (or PAYGRAPH_EPAY_PRIVATE_KEY for V2) when PAYGRAPH_EPAY_URL names a real gateway")
	}
	defSign := "MD5"
	if c.EpayURL == "" || c.EpayPrivateKey != "" {
		defSign = "RSA"
	}
	c.EpaySignType = strings.ToUpper(r.str("PAYGRAPH_EPAY_SIGN_TYPE", defSign))
	if c.EpaySignType != "MD5" && c.EpaySignType != "RSA" {
		r.fail("PAYGRAPH_EPAY_SIGN_TYPE", "%q is not MD5 (V1) or RSA (V2)", c.EpaySignType)
	}
	if c.EpayURL != "" && c.EpaySignType == "RSA" && (c.EpayPrivateKey == "" || c.EpayPlatformPublicKey == "") {
		r.fail("PAYGRAPH_EPAY_PRIVATE_KEY", "PAYGRAPH_EPAY_PRIVATE_KEY and PAYGRAPH_EPAY_PLATFORM_PUBLIC_KEY must be set for the V2 (RSA) interface of a real gateway")
	}
	if c.EpayURL != "" && c.EpaySignType == "MD5" && c.EpayKey == "" {
		r.fail("PAYGRAPH_EPAY_KEY", "must be set for the V1 (MD5) interface of a real gateway")
	}
	c.EpayTimeout = r.duration("PAYGRAPH_EPAY_TIMEOUT", 10*time.Second)

	c.PingppURL = r.httpURL("PAYGRAPH_PINGPP_URL")
	c.PingppAppID = r.str("PAYGRAPH_PINGPP_APP_ID", "")
	c.PingppSecretKey = r.str("PAYGRAPH_PINGPP_SECRET_KEY", "")
	c.PingppPublicKey = r.pem("PAYGRAPH_PINGPP_PUBLIC_KEY")
	if c.PingppURL != "" && (c.PingppSecretKey == "" || c.PingppPublicKey == "") {
		r.fail("PAYGRAPH_PINGPP_SECRET_KEY", "PAYGRAPH_PINGPP_SECRET_KEY and PAYGRAPH_PINGPP_PUBLIC_KEY must be set when PAYGRAPH_PINGPP_URL names a real gateway")
	}

	c.GameCallbackKey = r.str("PAYGRAPH_GAME_CALLBACK_KEY", "")
	c.GameCallbackSign = r.oneOf("PAYGRAPH_GAME_CALLBACK_SIGN", "md5", "md5", "hmac-sha256")

	c.OrderTTL = r.duration("PAYGRAPH_ORDER_TTL", 30*time.Minute)
	c.EscrowAutoConfirm = r.duration("PAYGRAPH_ESCROW_AUTO_CONFIRM", 24*time.Hour)
	c.EscrowRefundWindow = r.duration("PAYGRAPH_ESCROW_REFUND_WINDOW", 7*24*time.Hour)

	c.SMTPURL = r.str("PAYGRAPH_SMTP_URL", "")
	if c.SMTPURL != "" {
		if u, err := url.Parse(c.SMTPURL); err != nil || (u.Scheme != "smtp" && u.Scheme != "smtps") || u.Host == "" {
			r.fail("PAYGRAPH_SMTP_URL", "%q is not an smtp:// or smtps:// URL", c.SMTPURL)
		}
	}
	c.SMSURL = r.httpURL("PAYGRAPH_SMS_URL")
	if k := r.get("PAYGRAPH_TWOFACTOR_KEY"); k != "" {
		if len(k) < 32 {
			r.fail("PAYGRAPH_TWOFACTOR_KEY", "must be at least 32 characters long")
		}
		c.TwoFactorKey = []byte(k)
	}

	if r.err != nil {
		return nil, r.err
	}
	return c, nil
}

// ParseDatabaseURL understands sqlite://PATH and postgres:// (or postgresql://) URLs.
func ParseDatabaseURL(raw string) (Database, error) {
	switch {
	case strings.HasPrefix(raw, "sqlite://"):
		p := strings.TrimPrefix(raw, "sqlite://")
		if p == "" {
			return Database{}, fmt.Errorf("%q names no file (use sqlite://paygraph.db)", raw)
		}
		if strings.ContainsAny(p, "?#") {
			return Database{}, fmt.Errorf("%q: options are fixed by paygraph; give only a path", raw)
		}
		return Database{Driver: "sqlite", Path: p}, nil
	case strings.HasPrefix(raw, "postgres://"), strings.HasPrefix(raw, "postgresql://"):
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" {
			return Database{}, fmt.Errorf("%q is not a valid PostgreSQL URL", redact(raw))
		}
		return Database{Driver: "postgres", URL: raw}, nil
	default:
		return Database{}, fmt.Errorf("%q: the scheme must be sqlite:// or postgres://", redact(raw))
	}
}

// redact hides a password in a URL-looking string.
func redact(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
			return u.String()
		}
	}
	return raw
}

var assetCode = regexp.MustCompile(`^[A-Z][A-Z0-9]{1,15}$`)

// ParseAssets reads "CODE:SCALE,CODE:SCALE".
func ParseAssets(s string) ([]Asset, error) {
	var out []Asset
	seen := map[string]bool{}
	for _, part := range strings.Split(s, ",") {
		code, scale, ok := strings.Cut(strings.TrimSpace(part), ":")
		n, err := strconv.Atoi(scale)
		if !ok || !assetCode.MatchString(code) || err != nil || n < 0 || n > 12 {
			return nil, fmt.Errorf("%q is not CODE:SCALE with an upper-case code and a scale from 0 to 12", part)
		}
		if seen[code] {
			return nil, fmt.Errorf("asset %s is listed twice", code)
		}
		seen[code] = true
		out = append(out, Asset{Code: code, Scale: n})
	}
	return out, nil
}
