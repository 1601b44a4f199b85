package client

import (
	"context"
	"fmt"
	"net"
	"os"
	"syscall"
)

// ForeignPeerError is a socket answered by a process of another user: on a
// shared host (a squatted runtime directory, a socket path in a shared
// place) that process would see every request, and could answer anything.
type ForeignPeerError struct {
	Socket  string
	PeerUID int
	PeerPID int
	UID     int
}

func (e *ForeignPeerError) Error() string {
	return fmt.Sprintf("the socket %s is served by uid %d (pid %d), not by you (uid %d); refusing to talk to it", e.Socket, e.PeerUID, e.PeerPID, e.UID)
}

// dialOwn connects to the unix socket at path and checks with SO_PEERCRED
// that the process serving it runs as this user.
func dialOwn(ctx context.Context, path string) (net.Conn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, err
	}
	uid, pid, err := peerCred(conn)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("read the credentials of %s: %w", path, err)
	}
	if me := os.Getuid(); uid != me {
		conn.Close()
		return nil, &ForeignPeerError{Socket: path, PeerUID: uid, PeerPID: pid, UID: me}
	}
	return conn, nil
}

func peerCred(conn net.Conn) (uid, pid int, err error) {
	uc, ok := conn.(*net.UnixConn)
	if !ok {
		return 0, 0, fmt.Errorf("not a unix connection (%T)", conn)
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return 0, 0, err
	}
	var cred *syscall.Ucred
	var credErr error
	if err := raw.Control(func(fd uintptr) {
		cred, credErr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	}); err != nil {
		return 0, 0, err
	}
	if credErr != nil {
		return 0, 0, fmt.Errorf("SO_PEERCRED: %w", credErr)
	}
	return int(cred.Uid), int(cred.Pid), nil
}
