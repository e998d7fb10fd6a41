package api

import (
	"bytes"
	"embed"
	"net/http"
	"path"
	"strings"
	"time"
)

// The dashboard is plain HTML, CSS and JavaScript compiled into the binary:
// no CDN, no build step, nothing fetched from anywhere but this server.
//
//go:embed web
var webFiles embed.FS

// buildTime stands in for the assets' modification time: they change only
// with the binary.
var buildTime = time.Now()

func serveAsset(name string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		b, err := webFiles.ReadFile(path.Join("web", name))
		if err != nil {
			http.NotFound(w, r)
			return
		}
		// Revalidate every time so a new binary's dashboard is picked up.
		w.Header().Set("Cache-Control", "no-cache")
		http.ServeContent(w, r, name, buildTime, bytes.NewReader(b))
	}
}

func (s *Server) static(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	// Pages are served by their own routes (with the path the page reads).
	if strings.HasSuffix(name, ".html") {
		http.NotFound(w, r)
		return
	}
	serveAsset(name)(w, r)
}
