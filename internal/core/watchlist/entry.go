// Package watchlist is the pure logic of political keyword watchlists
// (issue #13, part 3): the entries and their file format, matching posts to
// entries with the trending pipeline's own term extraction
// (internal/core/terms), counting an entry's matches per sliding window, and
// the alert rule, which scores each entry against its own baseline with
// internal/core/trendscore and fires once when the score crosses the entry's
// enter threshold (hysteresis: it must fall below the exit threshold
// before it can fire again).
//
// It also holds the single-process reference (Compute) that
// pipelines/watchlist is checked against on Prism. Nothing here does I/O.
package watchlist

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Kind says what an entry watches. It changes how its text is matched only
// for hashtags; the other kinds are for people reading the list.
type Kind string

// The entry kinds.
const (
	// KindKeyword is one word (it also matches the hashtag of that word).
	KindKeyword Kind = "keyword"
	// KindPhrase is several words that must all appear, adjacent pairs as
	// the extractor's two-word phrases.
	KindPhrase Kind = "phrase"
	// KindHashtag matches the hashtag only, with or without '#'.
	KindHashtag Kind = "hashtag"
	// KindEntity is a named person, party or organisation, usually with
	// aliases; matched as a keyword or phrase.
	KindEntity Kind = "entity"
)

// Entry is one watched item.
type Entry struct {
	// ID is the stable identifier alerts and counts are keyed by:
	// lower-case letters, digits, '-', '_' and '.', at most 64 bytes.
	ID string `json:"id" yaml:"id"`
	// Watchlist groups entries (e.g. "us-politics"); free text.
	Watchlist string `json:"watchlist,omitempty" yaml:"watchlist,omitempty"`
	Kind      Kind   `json:"kind" yaml:"kind"`
	// Text is the keyword, phrase, hashtag or entity name.
	Text string `json:"text" yaml:"text"`
	// Aliases are other spellings that count as the entry; an alias that
	// starts with '#' is a hashtag.
	Aliases []string `json:"aliases,omitempty" yaml:"aliases,omitempty"`
	// Langs restricts matches to posts in these languages (primary
	// subtags, "en", "de"); empty matches every language.
	Langs []string `json:"langs,omitempty" yaml:"langs,omitempty"`
	// Enter and Exit override the rule's thresholds for this entry (0: the
	// pipeline's -score-enter / -score-exit).
	Enter float64 `json:"enter,omitempty" yaml:"enter,omitempty"`
	Exit  float64 `json:"exit,omitempty" yaml:"exit,omitempty"`
}

var idPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)

// Validate reports what is wrong with e.
func (e Entry) Validate() error {
	var errs []error
	if !idPattern.MatchString(e.ID) {
		errs = append(errs, fmt.Errorf("id %q: want 1-64 of a-z 0-9 . _ - starting with a letter or digit", e.ID))
	}
	switch e.Kind {
	case KindKeyword, KindPhrase, KindHashtag, KindEntity:
	default:
		errs = append(errs, fmt.Errorf("kind %q: want keyword, phrase, hashtag or entity", e.Kind))
	}
	if strings.TrimSpace(e.Text) == "" {
		errs = append(errs, errors.New("text is empty"))
	}
	for _, a := range e.Aliases {
		if strings.TrimSpace(strings.TrimLeft(a, "#")) == "" {
			errs = append(errs, errors.New("empty alias"))
		}
	}
	for _, l := range e.Langs {
		if l == "" || l != strings.ToLower(strings.TrimSpace(l)) {
			errs = append(errs, fmt.Errorf("language %q: want a lower-case primary subtag such as en", l))
		}
	}
	if e.Enter < 0 || e.Exit < 0 || (e.Enter > 0 && e.Exit > e.Enter) {
		errs = append(errs, fmt.Errorf("thresholds enter %v, exit %v: want 0 (default) or exit <= enter", e.Enter, e.Exit))
	}
	if len(errs) > 0 {
		return fmt.Errorf("watchlist entry %q: %w", e.ID, errors.Join(errs...))
	}
	return nil
}

// File is the format of a watchlist file (docs/watchlists.md): YAML, or
// the same structure in JSON (JSON is YAML).
type File struct {
	Entries []Entry `json:"entries" yaml:"entries"`
}

// Parse reads a watchlist file's content and validates every entry; IDs
// must be unique.
func Parse(b []byte) ([]Entry, error) {
	var f File
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true) // a misspelt field must not silently watch nothing
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("watchlist: parse: %w", err)
	}
	if err := ValidateAll(f.Entries); err != nil {
		return nil, err
	}
	return f.Entries, nil
}

// Load reads and parses the watchlist file at path.
func Load(path string) ([]Entry, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("watchlist: %w", err)
	}
	es, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return es, nil
}

// ValidateAll validates each entry and that IDs are unique.
func ValidateAll(es []Entry) error {
	var errs []error
	seen := map[string]bool{}
	for _, e := range es {
		if err := e.Validate(); err != nil {
			errs = append(errs, err)
		}
		if seen[e.ID] {
			errs = append(errs, fmt.Errorf("watchlist entry %q: duplicate id", e.ID))
		}
		seen[e.ID] = true
	}
	return errors.Join(errs...)
}

// Merge returns the entries of base with those of over added or replacing
// the ones with the same ID, sorted by ID: a file's entries over the
// database's, or the reverse.
func Merge(base, over []Entry) []Entry {
	by := map[string]Entry{}
	for _, e := range base {
		by[e.ID] = e
	}
	for _, e := range over {
		by[e.ID] = e
	}
	out := make([]Entry, 0, len(by))
	for _, e := range by {
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b Entry) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// EncodeEntries and DecodeEntries carry entries through a pipeline's
// serialised DoFns as JSON.
func EncodeEntries(es []Entry) (string, error) {
	b, err := json.Marshal(es)
	if err != nil {
		return "", fmt.Errorf("watchlist: encode entries: %w", err)
	}
	return string(b), nil
}

// DecodeEntries is the inverse of EncodeEntries.
func DecodeEntries(s string) ([]Entry, error) {
	var es []Entry
	if err := json.Unmarshal([]byte(s), &es); err != nil {
		return nil, fmt.Errorf("watchlist: decode entries: %w", err)
	}
	return es, nil
}
