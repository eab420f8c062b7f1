package lint

import (
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"path/filepath"
	"strings"
)

// WriteText prints one finding per line, as validate prints problems:
//
//	FILE:LINE: SEVERITY: KIND NS/NAME: [FIELD: ]MESSAGE [RULE]
//
// and, when pods are involved, an indented line naming them.
func WriteText(w io.Writer, fs []Finding) error {
	var b strings.Builder
	for _, f := range fs {
		loc := f.File
		if f.Line > 0 {
			loc = fmt.Sprintf("%s:%d", f.File, f.Line)
		}
		if loc != "" {
			b.WriteString(loc + ": ")
		}
		fmt.Fprintf(&b, "%s: %s: ", f.Severity, f.Object)
		if f.Field != "" {
			b.WriteString(f.Field + ": ")
		}
		fmt.Fprintf(&b, "%s [%s]\n", f.Message, f.Rule)
		if len(f.Pods) > 0 {
			b.WriteString("    pods: " + strings.Join(f.Pods, ", "))
			if more := f.PodCount - len(f.Pods); more > 0 {
				fmt.Fprintf(&b, " and %d more", more)
			}
			b.WriteByte('\n')
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteJSON prints the findings as one JSON list (the contract of
// `palisade lint -o json`); no findings is [].
func WriteJSON(w io.Writer, fs []Finding) error {
	if fs == nil {
		fs = []Finding{}
	}
	data, err := json.MarshalIndent(fs, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(data, '\n'))
	return err
}

// SARIF 2.1.0 (OASIS), the subset code-scanning UIs read.
type sarifLog struct {
	Schema  string     `json:"$schema"`
	Version string     `json:"version"`
	Runs    []sarifRun `json:"runs"`
}

type sarifRun struct {
	Tool    sarifTool     `json:"tool"`
	Results []sarifResult `json:"results"`
}

type sarifTool struct {
	Driver sarifDriver `json:"driver"`
}

type sarifDriver struct {
	Name           string      `json:"name"`
	Version        string      `json:"version,omitempty"`
	InformationURI string      `json:"informationUri"`
	Rules          []sarifRule `json:"rules"`
}

type sarifText struct {
	Text string `json:"text"`
}

type sarifRule struct {
	ID                   string       `json:"id"`
	ShortDescription     sarifText    `json:"shortDescription"`
	HelpURI              string       `json:"helpUri"`
	DefaultConfiguration sarifDefault `json:"defaultConfiguration"`
}

type sarifDefault struct {
	Level string `json:"level"`
}

type sarifResult struct {
	RuleID     string          `json:"ruleId"`
	RuleIndex  int             `json:"ruleIndex"`
	Level      string          `json:"level"`
	Message    sarifText       `json:"message"`
	Locations  []sarifLocation `json:"locations,omitempty"`
	Properties *sarifProps     `json:"properties,omitempty"`
}

type sarifLocation struct {
	PhysicalLocation *sarifPhysical `json:"physicalLocation,omitempty"`
	LogicalLocations []sarifLogical `json:"logicalLocations,omitempty"`
}

type sarifPhysical struct {
	ArtifactLocation sarifArtifact `json:"artifactLocation"`
	Region           *sarifRegion  `json:"region,omitempty"`
}

type sarifArtifact struct {
	URI string `json:"uri"`
}

type sarifRegion struct {
	StartLine int `json:"startLine"`
}

type sarifLogical struct {
	FullyQualifiedName string `json:"fullyQualifiedName"`
	Kind               string `json:"kind"`
}

type sarifProps struct {
	Field    string   `json:"field,omitempty"`
	Pods     []string `json:"pods,omitempty"`
	PodCount int      `json:"podCount,omitempty"`
}

// SARIFSchema is the schema the log names.
const SARIFSchema = "https://json.schemastore.org/sarif-2.1.0.json"

// sarifLevel maps severities to SARIF's levels.
func sarifLevel(s Severity) string {
	switch s {
	case Error:
		return "error"
	case Warning:
		return "warning"
	}
	return "note"
}

// fileURI is a SARIF artifactLocation.uri: a relative path stays relative
// (code-scanning resolves it against the repository), an absolute one
// becomes a file: URI.
func fileURI(path string) string {
	p := filepath.ToSlash(path)
	if filepath.IsAbs(path) {
		return (&url.URL{Scheme: "file", Path: p}).String()
	}
	return (&url.URL{Path: p}).String()
}

// WriteSARIF prints the findings as a SARIF 2.1.0 log with one run whose
// driver lists every rule.
func WriteSARIF(w io.Writer, fs []Finding, version string) error {
	run := sarifRun{Tool: sarifTool{Driver: sarifDriver{Name: "palisade", Version: version,
		InformationURI: "https://github.com/palisade-net/palisade"}}, Results: []sarifResult{}}
	index := map[string]int{}
	for i, r := range Rules {
		index[r.ID] = i
		run.Tool.Driver.Rules = append(run.Tool.Driver.Rules, sarifRule{ID: r.ID, ShortDescription: sarifText{r.Short},
			HelpURI: HelpBase + r.ID, DefaultConfiguration: sarifDefault{sarifLevel(r.Severity)}})
	}
	for _, f := range fs {
		res := sarifResult{RuleID: f.Rule, RuleIndex: index[f.Rule], Level: sarifLevel(f.Severity), Message: sarifText{f.Message}}
		loc := sarifLocation{LogicalLocations: []sarifLogical{{FullyQualifiedName: f.Object, Kind: "resource"}}}
		if f.File != "" {
			loc.PhysicalLocation = &sarifPhysical{ArtifactLocation: sarifArtifact{URI: fileURI(f.File)}}
			if f.Line > 0 {
				loc.PhysicalLocation.Region = &sarifRegion{StartLine: f.Line}
			}
		}
		res.Locations = []sarifLocation{loc}
		if f.Field != "" || len(f.Pods) > 0 {
			res.Properties = &sarifProps{Field: f.Field, Pods: f.Pods, PodCount: f.PodCount}
		}
		run.Results = append(run.Results, res)
	}
	data, err := json.MarshalIndent(sarifLog{Schema: SARIFSchema, Version: "2.1.0", Runs: []sarifRun{run}}, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(data, '\n'))
	return err
}
