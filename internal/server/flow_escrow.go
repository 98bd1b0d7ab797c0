package server

import "net/http"

// initEscrowFlow wires seed 003: escrow deals, wallet, Ping++.
func (s *Server) initEscrowFlow(mux *http.ServeMux) error {
	_ = mux
	return nil
}
