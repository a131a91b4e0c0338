package sqldb

import (
	"context"
	"net"
	"testing"

	"golang.org/x/sys/unix"
)

// TestDialSetsTimeouts: connections to database servers carry keepalives
// and TCP_USER_TIMEOUT, so that a black-holed server is given up on in
// seconds rather than after the kernel's quarter of an hour.
func TestDialSetsTimeouts(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		if c, err := ln.Accept(); err == nil {
			defer c.Close()
			_, _ = c.Read(make([]byte, 1))
		}
	}()
	c, err := dialContext(context.Background(), "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	raw, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var userTO, keepAlive, idle int
	var gerr error
	if err := raw.Control(func(fd uintptr) {
		if userTO, gerr = unix.GetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT); gerr != nil {
			return
		}
		if keepAlive, gerr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_KEEPALIVE); gerr != nil {
			return
		}
		idle, gerr = unix.GetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_KEEPIDLE)
	}); err != nil || gerr != nil {
		t.Fatal(err, gerr)
	}
	if userTO != int(userTimeout.Milliseconds()) || keepAlive != 1 || idle != int(keepAliveIdle.Seconds()) {
		t.Fatalf("TCP_USER_TIMEOUT %d ms, SO_KEEPALIVE %d, TCP_KEEPIDLE %d s; want %d, 1, %d",
			userTO, keepAlive, idle, userTimeout.Milliseconds(), int(keepAliveIdle.Seconds()))
	}
}
