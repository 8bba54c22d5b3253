//go:build unix

package persistence

import (
	"io/fs"
	"syscall"
)

// inodeOf returns the device and inode of a file, so that a file replaced by a
// rename is never mistaken for the one that was cached.
func inodeOf(fi fs.FileInfo) (dev, ino uint64) {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		// The conversions matter: the field types differ between platforms.
		return uint64(st.Dev), uint64(st.Ino)
	}
	return 0, 0
}
