package main

import (
	"os"
	"syscall"
	"unsafe"
)

// isTerminal reports whether f is a terminal: the TCGETS ioctl succeeds on it
// (/dev/null, a character device too, is not one).
func isTerminal(f *os.File) bool {
	return ioctlOK(f, syscall.TCGETS)
}

func ioctlOK(f *os.File, req uintptr) bool {
	rc, err := f.SyscallConn()
	if err != nil {
		return false
	}
	ok := false
	_ = rc.Control(func(fd uintptr) {
		var t syscall.Termios
		_, _, errno := syscall.Syscall(syscall.SYS_IOCTL, fd, req, uintptr(unsafe.Pointer(&t)))
		ok = errno == 0
	})
	return ok
}
