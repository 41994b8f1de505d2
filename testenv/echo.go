package testenv

import (
	"fmt"
	"io"
	"net"
	"time"
)

// Echo sends msg on c to an echo server and reads it back within timeout:
// bytes both ways through whatever path c takes. c's deadline is cleared
// afterwards.
func Echo(c net.Conn, msg string, timeout time.Duration) error {
	c.SetDeadline(time.Now().Add(timeout))
	defer c.SetDeadline(time.Time{})
	if _, err := io.WriteString(c, msg); err != nil {
		return err
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(c, buf); err != nil {
		return err
	}
	if string(buf) != msg {
		return fmt.Errorf("echoed %q, sent %q", buf, msg)
	}
	return nil
}
