package main

import (
	"net"
	"strings"

	"roomhub/config"
)

// cliBase is the base of the links the CLI prints (user create's setup
// link): PUBLIC_URL, else this machine's server on ADDR, whatever form
// ADDR has (":8080", "127.0.0.1:18080", "[::1]:8080", "0.0.0.0:80").
func cliBase(cfg config.Config) string {
	if cfg.PublicURL != "" {
		return strings.TrimRight(cfg.PublicURL, "/")
	}
	addr := cfg.Addr
	if addr == "" {
		addr = ":8080"
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "http://localhost:8080"
	}
	switch host {
	case "", "0.0.0.0", "::":
		host = "localhost"
	}
	if port == "80" {
		return "http://" + strings.TrimSuffix(net.JoinHostPort(host, port), ":80")
	}
	return "http://" + net.JoinHostPort(host, port)
}

// startupWarnings are the settings production can run with but should
// not: each is logged at start.
func startupWarnings(cfg config.Config) []string {
	var w []string
	if !cfg.Debug && cfg.PublicURL == "" {
		w = append(w, "PUBLIC_URL is unset: invitation, reset and room invite links are built from each request's Host header "+
			"(checked against ALLOWED_HOSTS and its port); set PUBLIC_URL=https://your.host so links never depend on it")
	}
	return w
}
