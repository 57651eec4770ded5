// Package dashboard holds the browser files of Haven's live dashboard
// (served at GET /) and the example pages (/examples/...), embedded in the
// binary so that the dashboard needs no network beyond the cluster itself.
// The charts are drawn on plain canvas: no library, no licence to carry.
package dashboard

import (
	"embed"
	"io/fs"
)

//go:embed files
var files embed.FS

// Files returns the dashboard's files, rooted so that index.html is at
// the top.
func Files() fs.FS {
	sub, err := fs.Sub(files, "files")
	if err != nil {
		panic(err) // the directory is embedded above
	}
	return sub
}
