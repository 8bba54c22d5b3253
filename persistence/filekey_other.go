//go:build !unix

package persistence

import "io/fs"

// inodeOf is unknown here; the cache then relies on size and modification time.
func inodeOf(fs.FileInfo) (dev, ino uint64) { return 0, 0 }
