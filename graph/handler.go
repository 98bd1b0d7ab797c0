package graph

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/paygraph/paygraph/internal/apperr"
	"github.com/paygraph/paygraph/internal/metrics"
	"github.com/paygraph/paygraph/internal/trace"
)

// Options tune the GraphQL handler's guards.
type Options struct {
	MaxDepth      int
	MaxComplexity int
	// Document limits (see DocumentLimits) and the most order(sync: true)
	// fields a request may have (see RootFieldRules).
	MaxTokens, MaxNesting, MaxFields, MaxSyncs int
	Metrics                                    *metrics.Metrics
	Log                                        *slog.Logger
	// WebsocketInit authenticates a WebSocket from its connection_init
	// payload and returns the context its operations run in.
	WebsocketInit transport.WebsocketInitFunc
	// KeepAlive is the WebSocket ping interval.
	KeepAlive time.Duration
	// WSInitTimeout is how long a WebSocket may take to send
	// connection_init (then it is closed with 4408); WSPongTimeout how long
	// a peer may take to answer a ping or take a message.
	WSInitTimeout, WSPongTimeout time.Duration
	// WSOrigins are the origins (scheme://host[:port]) besides the
	// server's own whose pages may open a WebSocket; "*" allows any.
	WSOrigins []string
}

// NewHandler returns the GraphQL endpoint: POST and GET over HTTP, SSE,
// and WebSocket (graphql-transport-ws and the legacy graphql-ws).
func NewHandler(r *Resolver, o Options) *handler.Server {
	// Requests refused by a limit are the client's fault: answer 422, not 200.
	for _, c := range []string{codeTooDeep, codeDocTooLarge, codeDocTooDeep, codeTooExpensive, codeTooManySyncs, codeOneKeyedField} {
		errcode.RegisterErrorType(c, errcode.KindProtocol)
	}
	errcode.RegisterErrorType("COMPLEXITY_LIMIT_EXCEEDED", errcode.KindProtocol)
	es := NewExecutableSchema(Config{Resolvers: r, Directives: Directives()})
	srv := handler.New(es)
	if o.KeepAlive == 0 {
		o.KeepAlive = 15 * time.Second
	}
	srv.AddTransport(newWebsocketTransport(o))
	srv.AddTransport(transport.SSE{})
	srv.AddTransport(transport.Options{})
	srv.AddTransport(transport.GET{})
	srv.AddTransport(transport.POST{})
	srv.AddTransport(unsupported{})

	srv.SetQueryCache(lru.New[*ast.QueryDocument](1000))
	srv.SetErrorPresenter(ErrorPresenter(o.Log))
	srv.SetRecoverFunc(RecoverFunc(o.Log))

	srv.Use(extension.Introspection{})
	srv.Use(extension.AutomaticPersistedQuery{Cache: lru.New[string](1000)})
	srv.Use(&DocumentLimits{MaxTokens: o.MaxTokens, MaxNesting: o.MaxNesting, MaxFields: o.MaxFields})
	srv.Use(DepthLimit{Max: o.MaxDepth})
	srv.Use(&RootFieldRules{MaxSyncs: o.MaxSyncs})
	srv.Use(extension.FixedComplexityLimit(o.MaxComplexity))
	srv.Use(&Observe{Metrics: o.Metrics})
	srv.AroundOperations(withSyncStore)
	srv.AroundFields(Visibility)
	return srv
}

// unsupported answers any request no transport takes (a POST without a
// JSON Content-Type, a PUT) with a GraphQL error that has a code and says
// what to send, instead of gqlgen's bare "transport not supported".
type unsupported struct{}

func (unsupported) Supports(*http.Request) bool { return true }

func (unsupported) Do(w http.ResponseWriter, r *http.Request, _ graphql.GraphExecutor) {
	status, msg := http.StatusUnsupportedMediaType, "send the query as POST with Content-Type: application/json (or GET with ?query=, or a WebSocket)"
	if r.Method != http.MethodPost && r.Method != http.MethodGet {
		status, msg = http.StatusMethodNotAllowed, r.Method+" is not a GraphQL method: use POST, GET or a WebSocket"
	}
	writeRefusal(w, r, status, msg)
}

// writeRefusal answers a request refused before any operation ran with
// status and one GraphQL error (BAD_USER_INPUT) saying what to send.
func writeRefusal(w http.ResponseWriter, r *http.Request, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(graphql.Response{
		Errors:     gqlerror.List{{Message: msg, Extensions: map[string]any{"code": apperr.BadUserInput}}},
		Extensions: map[string]any{"traceId": trace.ID(r.Context())},
	})
}
