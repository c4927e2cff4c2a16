package main

import (
	"net"
	"os"
	"time"
)

type stdio struct{}

func (stdio) Read(p []byte) (int, error)  { return os.Stdin.Read(p) }
func (stdio) Write(p []byte) (int, error) { return os.Stdout.Write(p) }

// stdioConn lets crypto/tls run over the instance's stdin/stdout: the host only relays bytes.
type stdioConn struct{ stdio }

type stdioAddr struct{}

func (stdioAddr) Network() string { return "stdio" }
func (stdioAddr) String() string  { return "stdio" }

func (stdioConn) Close() error                       { return os.Stdout.Close() }
func (stdioConn) LocalAddr() net.Addr                { return stdioAddr{} }
func (stdioConn) RemoteAddr() net.Addr               { return stdioAddr{} }
func (stdioConn) SetDeadline(t time.Time) error      { return nil }
func (stdioConn) SetReadDeadline(t time.Time) error  { return nil }
func (stdioConn) SetWriteDeadline(t time.Time) error { return nil }
