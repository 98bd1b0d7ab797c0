package server

import (
	"net/http"
)

// What a page on an allowed origin may use of /query.
const (
	corsMethods = "GET, POST, OPTIONS"
	corsHeaders = "Authorization, Content-Type, Idempotency-Key, X-Request-Id"
	// corsExpose are the response headers its scripts may read.
	corsExpose = "X-Request-Id, Retry-After"
	// corsMaxAge is how long, in seconds, a browser may reuse a preflight.
	corsMaxAge = "600"
)

// cors lets pages on the origins of PAYGRAPH_CORS_ORIGINS call next (the
// GraphQL endpoint) from a browser. It answers their preflight requests
// itself and adds the CORS headers to their actual requests: the origin
// echoed, or "*" for one allowed only through "*", and
// Access-Control-Allow-Credentials for a listed origin. Any other origin
// gets no CORS header, so its scripts cannot read the answer, and its
// preflight is refused with 403. Same-origin requests (GraphiQL) need
// none of this. WebSockets check the same list when they are accepted
// (graph.Options.WSOrigins).
func (s *Server) cors(next http.Handler) http.Handler {
	c := s.Config.CORS
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		h := w.Header()
		if len(c.Origins) > 0 {
			// The answer depends on Origin: caches must keep one per origin.
			h.Add("Vary", "Origin")
		}
		preflight := r.Method == http.MethodOptions && origin != "" && r.Header.Get("Access-Control-Request-Method") != ""
		allowed, credentials := c.Allow(origin)
		if !allowed {
			if preflight {
				http.Error(w, "origin not allowed (PAYGRAPH_CORS_ORIGINS)", http.StatusForbidden)
				return
			}
			next.ServeHTTP(w, r)
			return
		}
		if credentials {
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Allow-Credentials", "true")
		} else {
			h.Set("Access-Control-Allow-Origin", "*")
		}
		if preflight {
			h.Add("Vary", "Access-Control-Request-Method")
			h.Add("Vary", "Access-Control-Request-Headers")
			h.Set("Access-Control-Allow-Methods", corsMethods)
			h.Set("Access-Control-Allow-Headers", corsHeaders)
			h.Set("Access-Control-Max-Age", corsMaxAge)
			w.WriteHeader(http.StatusNoContent)
			return
		}
		h.Set("Access-Control-Expose-Headers", corsExpose)
		next.ServeHTTP(w, r)
	})
}
