package timeline

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
)

//go:embed timeline.html
var page string

var pageTemplate = template.Must(template.New("timeline").Parse(page))

// Render writes the run as one self-contained HTML page.
func Render(w io.Writer, run *Run) error {
	data, err := json.Marshal(struct {
		Title    string    `json:"title"`
		Nodes    []string  `json:"nodes"`
		Duration float64   `json:"duration"`
		Bands    []Band    `json:"bands"`
		Faults   []Fault   `json:"faults"`
		Terms    []Point   `json:"terms"`
		Commits  []Point   `json:"commits"`
		Applied  []Point   `json:"applied"`
		Messages []Message `json:"messages"`
		Ops      []Op      `json:"ops"`
		Kinds    []string  `json:"kinds"`
		Failure  *Failure  `json:"failure"`
	}{run.Title, run.Nodes, run.Duration, run.Bands, run.Faults, run.Terms, run.Commits, run.Applied,
		run.Messages, run.Ops, run.Kinds, run.Failure})
	if err != nil {
		return fmt.Errorf("timeline: %w", err)
	}
	return pageTemplate.Execute(w, struct {
		Title string
		Data  template.JS
	}{run.Title, template.JS(data)})
}
