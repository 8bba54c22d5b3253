// Package persistence owns the files testingd shares with the legacy Open Library
// testing tools: the state file _testing-prs.json (the queued PRs, their pins and
// the last deploy), read and written in exactly the format the legacy Python code and
// the deploy script use, under a lock and atomically so that concurrent writers never
// lose each other's updates; and the read-only build transcript _dev-merged_status.txt
// that the deploy leaves behind.
//
// The formats are contracts described in LEGACY.md §1 and §2.
package persistence
