// Package openlibrary reads what testingd shows about the Open Library install it
// runs beside: the feature flags in Open Library's config file (openlibrary.yml)
// and the git revision of its checkout.
package openlibrary

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// FeatureFlag is one row of the status page's "Features enabled" table.
type FeatureFlag struct {
	Name  string
	Value string // as the legacy page renders it; see ParseFeatureFlags
}

// ErrInvalidConfig is wrapped by every error about the content of the config file
// (as opposed to failing to read it).
var ErrInvalidConfig = errors.New("invalid Open Library config")

// ReadFeatureFlags reads the `features:` mapping of the openlibrary.yml at path.
func ReadFeatureFlags(path string) ([]FeatureFlag, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read feature flags: %w", err)
	}
	flags, err := ParseFeatureFlags(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return flags, nil
}

// ParseFeatureFlags reads the `features:` mapping of an openlibrary.yml, sorted by
// name, with values rendered the way the legacy status page renders them.
//
// The legacy page (Open Library's openlibrary/plugins/openlibrary/status.py,
// get_features_table(), rendered by openlibrary/macros/FeaturesTable.html.jinja
// as "Feature" | "Value" rows) does, for each key of config.features in sorted
// order:
//
//	if isinstance(value, dict): "usergroup: " + value.get("usergroup", "?")
//	else: str(value) if value is not None else ""
//
// So a flag like {filter: usergroup, usergroup: /usergroup/beta-testers} shows the
// usergroup's full key, "usergroup: /usergroup/beta-testers", not just
// "beta-testers", and any other map shows "usergroup: ?". (The older web.py
// template, templates/status.html, listed a map's pairs and hid the `debug` flag;
// the current table does neither.)
//
// Where Python's str() and the YAML text differ we keep the YAML text, which is
// what the file's author wrote: `true` stays "true" (Python shows "True"), `yes`
// stays "yes", `0x10` stays "0x10". A null value is "". A null or non-scalar
// usergroup shows "?" (Python would show "None" or a list's repr). A list value
// is shown in YAML flow style, "[a, b]". Anchors, aliases and `<<` merge keys are
// followed as PyYAML follows them; a key given twice keeps its last value.
//
// A file without `features`, or with `features:` left empty, has no flags. An
// empty file is an empty config.
func ParseFeatureFlags(data []byte) ([]FeatureFlag, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return []FeatureFlag{}, nil
		}
		return nil, fmt.Errorf("%w: %v", ErrInvalidConfig, err)
	}
	// Open Library loads the file with yaml.safe_load, which refuses a stream of
	// several documents.
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvalidConfig, err)
		}
		return nil, fmt.Errorf("%w: line %d: a second YAML document; the config must be one document", ErrInvalidConfig, extra.Line)
	}

	root := &doc
	if root.Kind == yaml.DocumentNode {
		if len(root.Content) == 0 {
			return []FeatureFlag{}, nil
		}
		root = root.Content[0]
	}
	root = deref(root)
	if isNull(root) {
		return []FeatureFlag{}, nil
	}
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%w: line %d: the config is %s, not a mapping", ErrInvalidConfig, root.Line, kindName(root))
	}
	budget := maxPairs
	top, err := collectPairs(root, 0, &budget)
	if err != nil {
		return nil, err
	}
	var features *yaml.Node
	for _, p := range top {
		if p.key == "features" {
			features = deref(p.value) // the last one wins, as in PyYAML
		}
	}
	if features == nil || isNull(features) {
		return []FeatureFlag{}, nil
	}
	if features.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%w: line %d: features is %s, not a mapping of flag names to values", ErrInvalidConfig, features.Line, kindName(features))
	}
	fp, err := collectPairs(features, 0, &budget)
	if err != nil {
		return nil, err
	}

	byName := make(map[string]*yaml.Node, len(fp))
	for _, p := range fp {
		byName[p.key] = p.value // a key given twice keeps its last value
	}
	names := make([]string, 0, len(byName))
	for name := range byName {
		names = append(names, name)
	}
	// Python sorts str keys by code point; Go's byte order on UTF-8 is the same.
	slices.Sort(names)
	flags := make([]FeatureFlag, 0, len(names))
	for _, name := range names {
		v, err := flagValue(byName[name], &budget)
		if err != nil {
			return nil, err
		}
		flags = append(flags, FeatureFlag{Name: name, Value: v})
	}
	return flags, nil
}

// flagValue renders one flag's value like get_features_table.
func flagValue(n *yaml.Node, budget *int) (string, error) {
	n = deref(n)
	switch {
	case isNull(n):
		return "", nil
	case n.Kind == yaml.MappingNode:
		ps, err := collectPairs(n, 0, budget)
		if err != nil {
			return "", err
		}
		group := "?"
		for _, p := range ps {
			if p.key != "usergroup" {
				continue
			}
			if v := deref(p.value); v.Kind == yaml.ScalarNode && !isNull(v) {
				group = v.Value
			} else {
				group = "?"
			}
		}
		return "usergroup: " + group, nil
	default:
		return flowText(n), nil
	}
}

// flowText renders a value in YAML flow style: scalars as written, sequences as
// [a, b], mappings as {k: v}. Aliases can make a short file describe a huge value,
// so the text is cut at maxValueLen.
func flowText(n *yaml.Node) string {
	var w flowWriter
	w.write(n, 0)
	s := w.b.String()
	if len(s) > maxValueLen {
		cut := maxValueLen
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		return s[:cut] + "…"
	}
	return s
}

type flowWriter struct{ b strings.Builder }

func (w *flowWriter) write(n *yaml.Node, depth int) {
	if w.b.Len() > maxValueLen {
		return
	}
	n = deref(n)
	if depth > maxDepth {
		w.b.WriteString("…")
		return
	}
	switch n.Kind {
	case yaml.SequenceNode:
		w.b.WriteString("[")
		for i, c := range n.Content {
			if w.b.Len() > maxValueLen {
				break
			}
			if i > 0 {
				w.b.WriteString(", ")
			}
			w.write(c, depth+1)
		}
		w.b.WriteString("]")
	case yaml.MappingNode:
		w.b.WriteString("{")
		for i := 0; i+1 < len(n.Content) && w.b.Len() <= maxValueLen; i += 2 {
			if i > 0 {
				w.b.WriteString(", ")
			}
			w.write(n.Content[i], depth+1)
			w.b.WriteString(": ")
			w.write(n.Content[i+1], depth+1)
		}
		w.b.WriteString("}")
	case yaml.ScalarNode:
		if isNull(n) {
			w.b.WriteString("null")
		} else {
			w.b.WriteString(n.Value)
		}
	}
}

type pair struct {
	key   string
	value *yaml.Node
}

const (
	// maxDepth bounds alias and merge chains.
	maxDepth = 32
	// maxValueLen bounds a rendered list value.
	maxValueLen = 1024
	// maxPairs bounds the mapping entries one parse may visit: with aliases and
	// merge keys a small file can describe an exponentially large mapping
	// ("billion laughs").
	maxPairs = 100_000
)

// collectPairs lists a mapping's key/value pairs in order, with `<<` merge keys
// expanded as PyYAML does: merged pairs come first, so the mapping's own keys
// override them, and of several merged mappings the earlier ones win. Every pair
// visited spends one unit of budget, shared by the whole parse.
func collectPairs(m *yaml.Node, depth int, budget *int) ([]pair, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("%w: line %d: merge keys nested too deeply", ErrInvalidConfig, m.Line)
	}
	var merged, own []pair
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := deref(m.Content[i]), m.Content[i+1]
		*budget--
		if *budget < 0 {
			return nil, fmt.Errorf("%w: line %d: mapping expands to too many entries", ErrInvalidConfig, m.Line)
		}
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			src := deref(v)
			var sources []*yaml.Node
			switch src.Kind {
			case yaml.MappingNode:
				sources = []*yaml.Node{src}
			case yaml.SequenceNode:
				// Earlier mappings in the list win: merge them last.
				for j := len(src.Content) - 1; j >= 0; j-- {
					sources = append(sources, deref(src.Content[j]))
				}
			}
			for _, s := range sources {
				if s.Kind != yaml.MappingNode {
					return nil, fmt.Errorf("%w: line %d: a merge key (<<) takes a mapping or a list of mappings", ErrInvalidConfig, s.Line)
				}
				ps, err := collectPairs(s, depth+1, budget)
				if err != nil {
					return nil, err
				}
				merged = append(merged, ps...)
			}
			if len(sources) == 0 {
				return nil, fmt.Errorf("%w: line %d: a merge key (<<) takes a mapping or a list of mappings", ErrInvalidConfig, v.Line)
			}
			continue
		}
		if k.Kind != yaml.ScalarNode {
			return nil, fmt.Errorf("%w: line %d: a key that is %s; keys must be plain names", ErrInvalidConfig, k.Line, kindName(k))
		}
		own = append(own, pair{key: k.Value, value: v})
	}
	return append(merged, own...), nil
}

// deref follows aliases to the node they name.
func deref(n *yaml.Node) *yaml.Node {
	for range maxDepth {
		if n.Kind != yaml.AliasNode || n.Alias == nil {
			return n
		}
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == 0 || (n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null")
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "a mapping"
	case yaml.ScalarNode:
		return fmt.Sprintf("the scalar %q", n.Value)
	case yaml.AliasNode:
		return "an alias"
	default:
		return "empty"
	}
}
