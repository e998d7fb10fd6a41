package flink

import (
	"fmt"
	"regexp"
)

// Words of PromQL that look like metric names but are not.
var (
	promqlAggregators = map[string]bool{
		"sum": true, "min": true, "max": true, "avg": true, "group": true, "stddev": true,
		"stdvar": true, "count": true, "count_values": true, "bottomk": true, "topk": true,
		"quantile": true, "limitk": true, "limit_ratio": true,
	}
	// Modifiers followed by a parenthesised label list to skip.
	promqlLabelLists = map[string]bool{
		"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
	}
	promqlKeywords = map[string]bool{
		"bool": true, "offset": true, "and": true, "or": true, "unless": true, "inf": true, "nan": true, "atan2": true,
	}
	nameMatcher = regexp.MustCompile(`__name__\s*(=~|=)\s*"((?:[^"\\]|\\.)*)"`)
)

// metricNames returns the metric names a PromQL expression selects, and the
// regexes of selectors that choose names with __name__=~. It is a small
// lexer, not a PromQL parser: enough to tie dashboard queries to the metrics
// our services export, without importing Prometheus itself.
func metricNames(expr string) (names, regexes []string, err error) {
	isIdentStart := func(c byte) bool { return c == '_' || c == ':' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
	isIdent := func(c byte) bool { return isIdentStart(c) || c >= '0' && c <= '9' }
	skipSpace := func(i int) int {
		for i < len(expr) && (expr[i] == ' ' || expr[i] == '\t' || expr[i] == '\n') {
			i++
		}
		return i
	}
	closing := func(i int, open, close byte) (int, error) {
		depth := 0
		for j := i; j < len(expr); j++ {
			switch expr[j] {
			case '"', '\'', '`':
				q := expr[j]
				for j++; j < len(expr) && expr[j] != q; j++ {
					if expr[j] == '\\' && q != '`' {
						j++
					}
				}
			case open:
				depth++
			case close:
				depth--
				if depth == 0 {
					return j, nil
				}
			}
		}
		return 0, fmt.Errorf("unterminated %c at %d in %q", open, i, expr)
	}
	for i := 0; i < len(expr); {
		c := expr[i]
		switch {
		case c == '"' || c == '\'' || c == '`':
			// Strings belong in matchers or function arguments such as
			// label_replace; the dashboard uses neither outside {...}.
			return nil, nil, fmt.Errorf("string literal outside a matcher in %q", expr)
		case c == '{':
			end, err := closing(i, '{', '}')
			if err != nil {
				return nil, nil, err
			}
			for _, m := range nameMatcher.FindAllStringSubmatch(expr[i:end], -1) {
				if m[1] == "=" {
					names = append(names, m[2])
				} else {
					regexes = append(regexes, m[2])
				}
			}
			i = end + 1
		case c == '[':
			end, err := closing(i, '[', ']')
			if err != nil {
				return nil, nil, err
			}
			i = end + 1
		case isIdentStart(c):
			j := i
			for j < len(expr) && isIdent(expr[j]) {
				j++
			}
			word := expr[i:j]
			next := skipSpace(j)
			switch {
			case promqlLabelLists[word]:
				if next < len(expr) && expr[next] == '(' {
					end, err := closing(next, '(', ')')
					if err != nil {
						return nil, nil, err
					}
					j = end + 1
				}
			case promqlAggregators[word], promqlKeywords[word]:
			case next < len(expr) && expr[next] == '(':
				// A function call.
			default:
				names = append(names, word)
			}
			i = j
		case c >= '0' && c <= '9' || c == '.':
			// A number such as 4e12 or 0.5: skip it whole so its exponent is
			// not read as a name.
			for i < len(expr) && (isIdent(expr[i]) || expr[i] == '.') {
				i++
			}
		default:
			i++
		}
	}
	return names, regexes, nil
}
