package server

// OpenStreams reports how many WebSockets and SSE streams are open, for
// tests.
func (s *Server) OpenStreams() int64 { return s.openStreams.Load() }
