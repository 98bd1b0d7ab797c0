// Package fakesmtp is a minimal SMTP server for tests of code that sends mail.
package fakesmtp

import (
	"encoding/base64"
	"net"
	"net/textproto"
	"strings"
	"sync"
	"testing"
)

// Message is one mail the Server accepted.
type Message struct {
	From string
	To   []string
	// Auth is the decoded AUTH PLAIN response ("\x00user\x00password"), if any.
	Auth string
	// Data is the message, with lines ending in \n.
	Data string
}

// Server is a minimal SMTP server on 127.0.0.1 that keeps what it is sent.
type Server struct {
	Addr string

	rejectRcpt bool
	ln         net.Listener
	wg         sync.WaitGroup
	mu         sync.Mutex
	msgs       []Message
	conns      map[net.Conn]bool
}

// StartSMTP runs a Server until t ends.
func Start(t testing.TB) *Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Addr: ln.Addr().String(), ln: ln, conns: map[net.Conn]bool{}}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns[c] = true
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.serve(c)
				s.mu.Lock()
				delete(s.conns, c)
				s.mu.Unlock()
				c.Close()
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		s.mu.Lock()
		for c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return s
}

// RejectRcpt makes RCPT TO fail with 550 from now on.
func (s *Server) RejectRcpt(reject bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rejectRcpt = reject
}

// Messages returns the mails accepted so far.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

func (s *Server) serve(c net.Conn) {
	tp := textproto.NewConn(c)
	reply := func(lines ...string) bool {
		for _, l := range lines {
			if err := tp.PrintfLine("%s", l); err != nil {
				return false
			}
		}
		return true
	}
	if !reply("220 fake ESMTP") {
		return
	}
	var m Message
	for {
		line, err := tp.ReadLine()
		if err != nil {
			return
		}
		verb, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(verb) {
		case "EHLO":
			reply("250-fake", "250-AUTH PLAIN", "250 8BITMIME")
		case "HELO", "NOOP":
			reply("250 ok")
		case "RSET":
			m = Message{}
			reply("250 ok")
		case "AUTH":
			mech, resp, _ := strings.Cut(arg, " ")
			b, err := base64.StdEncoding.DecodeString(resp)
			if !strings.EqualFold(mech, "PLAIN") || err != nil {
				reply("535 bad auth")
				continue
			}
			m.Auth = string(b)
			reply("235 ok")
		case "MAIL":
			m.From = angle(arg)
			reply("250 ok")
		case "RCPT":
			s.mu.Lock()
			reject := s.rejectRcpt
			s.mu.Unlock()
			if reject {
				reply("550 no such user")
				continue
			}
			m.To = append(m.To, angle(arg))
			reply("250 ok")
		case "DATA":
			reply("354 go ahead")
			data, err := tp.ReadDotBytes()
			if err != nil {
				return
			}
			m.Data = string(data)
			s.mu.Lock()
			s.msgs = append(s.msgs, m)
			s.mu.Unlock()
			m = Message{Auth: m.Auth}
			reply("250 queued")
		case "QUIT":
			reply("221 bye")
			return
		default:
			reply("502 not implemented")
		}
	}
}

// angle returns the address between < and > in a MAIL or RCPT argument.
func angle(arg string) string {
	_, rest, _ := strings.Cut(arg, "<")
	a, _, _ := strings.Cut(rest, ">")
	return a
}
