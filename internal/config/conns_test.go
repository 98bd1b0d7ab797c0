package config

import (
	"strings"
	"testing"
	"time"
)

func TestConnectionDefaults(t *testing.T) {
	c, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	want := Connections{
		HeaderTimeout: 10 * time.Second, BodyTimeout: 30 * time.Second, WriteTimeout: time.Minute,
		IdleTimeout: 2 * time.Minute, PerAddress: 64, Streams: 4096,
		WSInitTimeout: 10 * time.Second, WSPingInterval: 15 * time.Second, WSPongTimeout: 10 * time.Second,
		SubscriptionsPerConn: 32, SubscriptionsPerUser: 256, ReadyTimeout: 2 * time.Second,
	}
	if c.Conns != want {
		t.Fatalf("got %+v\nwant %+v", c.Conns, want)
	}
	c, err = Load(env(map[string]string{"PAYGRAPH_MAX_CONNS_PER_IP": "0", "PAYGRAPH_WS_INIT_TIMEOUT": "3s"}))
	if err != nil || c.Conns.PerAddress != 0 || c.Conns.WSInitTimeout != 3*time.Second {
		t.Fatalf("got %+v, %v", c, err)
	}
}

func TestBadConnectionSettingsNameTheirVariable(t *testing.T) {
	for v, val := range map[string]string{
		"PAYGRAPH_HEADER_TIMEOUT":             "0s",
		"PAYGRAPH_BODY_TIMEOUT":               "soon",
		"PAYGRAPH_WRITE_TIMEOUT":              "-1s",
		"PAYGRAPH_IDLE_TIMEOUT":               "2",
		"PAYGRAPH_MAX_CONNS_PER_IP":           "-1",
		"PAYGRAPH_MAX_STREAMS":                "0",
		"PAYGRAPH_WS_INIT_TIMEOUT":            "x",
		"PAYGRAPH_WS_PING_INTERVAL":           "0",
		"PAYGRAPH_WS_PONG_TIMEOUT":            "1",
		"PAYGRAPH_MAX_SUBSCRIPTIONS_PER_CONN": "0",
		"PAYGRAPH_MAX_SUBSCRIPTIONS_PER_USER": "many",
		"PAYGRAPH_READY_TIMEOUT":              "0ms",
	} {
		_, err := Load(env(map[string]string{v: val}))
		if err == nil || !strings.HasPrefix(err.Error(), v+": ") || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s=%q: got %v", v, val, err)
		}
	}
}
