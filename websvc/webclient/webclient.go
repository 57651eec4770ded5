// Package webclient holds Haven's browser client: an ES module served at
// /client.js, with its TypeScript declarations at /client.d.ts. It needs no
// build step: a page imports it as it is.
package webclient

import (
	"embed"
	"io/fs"
)

//go:embed files
var files embed.FS

// Files returns client.js and client.d.ts at the top.
func Files() fs.FS {
	sub, err := fs.Sub(files, "files")
	if err != nil {
		panic(err) // the directory is embedded above
	}
	return sub
}
