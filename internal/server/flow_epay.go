package server

import "net/http"

// initEpayFlows wires seeds 001 and 002: app store and points through epay.
func (s *Server) initEpayFlows(mux *http.ServeMux) error {
	_ = mux
	return nil
}
