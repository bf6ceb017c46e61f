package main

// Loading the chart and its values the way helm 3 does.
//
// helm reads YAML through sigs.k8s.io/yaml: YAML (go-yaml v2, YAML 1.1) is
// turned into JSON and decoded with encoding/json, so that maps have string
// keys and every number is a float64. The templates see the values so (a
// large number printed with {{ }} comes out as 2.68435456e+08 in helm too),
// hence the same conversion here.

import (
	"encoding/json"
	"fmt"
	"io/ioutil"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"gopkg.in/yaml.v2"
)

// ChartMeta is Chart.yaml, with helm's field names (.Chart.Name,
// .Chart.AppVersion, ...).
type ChartMeta struct {
	Name         string                   `json:"name"`
	Home         string                   `json:"home,omitempty"`
	Sources      []string                 `json:"sources,omitempty"`
	Version      string                   `json:"version"`
	Description  string                   `json:"description,omitempty"`
	Keywords     []string                 `json:"keywords,omitempty"`
	Maintainers  []map[string]interface{} `json:"maintainers,omitempty"`
	Icon         string                   `json:"icon,omitempty"`
	APIVersion   string                   `json:"apiVersion"`
	Condition    string                   `json:"condition,omitempty"`
	Tags         string                   `json:"tags,omitempty"`
	AppVersion   string                   `json:"appVersion,omitempty"`
	Deprecated   bool                     `json:"deprecated,omitempty"`
	Annotations  map[string]string        `json:"annotations,omitempty"`
	KubeVersion  string                   `json:"kubeVersion,omitempty"`
	Dependencies []map[string]interface{} `json:"dependencies,omitempty"`
	Type         string                   `json:"type,omitempty"`
}

// Chart is a chart directory as loaded.
type Chart struct {
	Dir       string
	Meta      ChartMeta
	Values    map[string]interface{} // values.yaml
	Schema    []byte                 // values.schema.json, nil if absent
	Templates map[string]string      // "<name>/templates/..." -> text
	Files     map[string][]byte      // the other files (.Files)
}

// jsonish converts go-yaml v2's output to what sigs.k8s.io/yaml followed by
// encoding/json yields: map[string]interface{}, []interface{}, float64,
// string, bool and nil.
func jsonish(v interface{}) (interface{}, error) {
	switch t := v.(type) {
	case map[interface{}]interface{}:
		out := make(map[string]interface{}, len(t))
		for k, val := range t {
			var key string
			switch kk := k.(type) {
			case string:
				key = kk
			case int, int64, uint64, float64, bool:
				key = fmt.Sprint(kk)
			default:
				return nil, fmt.Errorf("unsupported map key %v (%T)", k, k)
			}
			c, err := jsonish(val)
			if err != nil {
				return nil, err
			}
			out[key] = c
		}
		return out, nil
	case map[string]interface{}:
		out := make(map[string]interface{}, len(t))
		for k, val := range t {
			c, err := jsonish(val)
			if err != nil {
				return nil, err
			}
			out[k] = c
		}
		return out, nil
	case []interface{}:
		out := make([]interface{}, len(t))
		for i, val := range t {
			c, err := jsonish(val)
			if err != nil {
				return nil, err
			}
			out[i] = c
		}
		return out, nil
	case int:
		return float64(t), nil
	case int64:
		return float64(t), nil
	case uint64:
		return float64(t), nil
	case float64, string, bool, nil:
		return t, nil
	default:
		// Timestamps and the like: through JSON, as sigs.k8s.io/yaml does.
		b, err := json.Marshal(t)
		if err != nil {
			return nil, err
		}
		var out interface{}
		err = json.Unmarshal(b, &out)
		return out, err
	}
}

// parseYAML parses one YAML document into JSON-typed values.
func parseYAML(data []byte) (interface{}, error) {
	var raw interface{}
	if err := yaml.Unmarshal(data, &raw); err != nil {
		return nil, err
	}
	return jsonish(raw)
}

// parseYAMLMap parses a YAML mapping (an empty document is an empty map).
func parseYAMLMap(data []byte) (map[string]interface{}, error) {
	v, err := parseYAML(data)
	if err != nil {
		return nil, err
	}
	if v == nil {
		return map[string]interface{}{}, nil
	}
	m, ok := v.(map[string]interface{})
	if !ok {
		return nil, fmt.Errorf("expected a mapping at the top, got %T", v)
	}
	return m, nil
}

// loadChart reads Chart.yaml, values.yaml, values.schema.json, templates/
// and the other files (less what .helmignore names).
func loadChart(dir string) (*Chart, error) {
	c := &Chart{Dir: dir, Templates: map[string]string{}, Files: map[string][]byte{}}
	meta, err := ioutil.ReadFile(filepath.Join(dir, "Chart.yaml"))
	if err != nil {
		return nil, err
	}
	m, err := parseYAMLMap(meta)
	if err != nil {
		return nil, fmt.Errorf("Chart.yaml: %v", err)
	}
	b, _ := json.Marshal(m)
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c.Meta); err != nil {
		return nil, fmt.Errorf("Chart.yaml: %v", err)
	}
	if c.Meta.Name == "" {
		return nil, fmt.Errorf("Chart.yaml: name is empty")
	}
	if data, err := ioutil.ReadFile(filepath.Join(dir, "values.yaml")); err == nil {
		if c.Values, err = parseYAMLMap(data); err != nil {
			return nil, fmt.Errorf("values.yaml: %v", err)
		}
	} else {
		c.Values = map[string]interface{}{}
	}
	if data, err := ioutil.ReadFile(filepath.Join(dir, "values.schema.json")); err == nil {
		c.Schema = data
	}
	ignore := readHelmignore(dir)
	err = filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		rel = filepath.ToSlash(rel)
		if rel == "." {
			return nil
		}
		if ignored(ignore, rel, info.IsDir()) {
			if info.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if info.IsDir() {
			return nil
		}
		data, err := ioutil.ReadFile(path)
		if err != nil {
			return err
		}
		switch {
		case strings.HasPrefix(rel, "templates/"):
			c.Templates[c.Meta.Name+"/"+rel] = string(data)
		case rel == "Chart.yaml" || rel == "values.yaml" || rel == "values.schema.json":
		default:
			c.Files[rel] = data
		}
		return nil
	})
	return c, err
}

// readHelmignore reads .helmignore's patterns (globs; a trailing '/' matches
// directories only). Negations are not supported.
func readHelmignore(dir string) []string {
	data, err := ioutil.ReadFile(filepath.Join(dir, ".helmignore"))
	if err != nil {
		return nil
	}
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		out = append(out, line)
	}
	return append(out, ".helmignore")
}

func ignored(patterns []string, rel string, isDir bool) bool {
	for _, p := range patterns {
		dirOnly := strings.HasSuffix(p, "/")
		p = strings.TrimSuffix(p, "/")
		if dirOnly && !isDir {
			continue
		}
		target := filepath.Base(rel)
		if strings.Contains(p, "/") {
			target = rel
		}
		if ok, _ := filepath.Match(p, target); ok {
			return true
		}
	}
	return false
}

// mergeMaps is how helm combines several -f files: b over a, maps merged
// key by key, anything else replaced (a null stays, to delete a default).
func mergeMaps(a, b map[string]interface{}) map[string]interface{} {
	out := make(map[string]interface{}, len(a))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		if vm, ok := v.(map[string]interface{}); ok {
			if bv, ok := out[k].(map[string]interface{}); ok {
				out[k] = mergeMaps(bv, vm)
				continue
			}
		}
		out[k] = v
	}
	return out
}

func deepCopy(v interface{}) interface{} {
	switch t := v.(type) {
	case map[string]interface{}:
		out := make(map[string]interface{}, len(t))
		for k, val := range t {
			out[k] = deepCopy(val)
		}
		return out
	case []interface{}:
		out := make([]interface{}, len(t))
		for i, val := range t {
			out[i] = deepCopy(val)
		}
		return out
	default:
		return v
	}
}

// coalesce is helm's chartutil.CoalesceValues for a chart without
// dependencies: the user's values over the chart's defaults; a user null
// deletes the default's key. Warnings are returned, as helm prints them.
func coalesce(defaults, user map[string]interface{}) (map[string]interface{}, []string) {
	var warnings []string
	v := deepCopy(user).(map[string]interface{})
	dv := deepCopy(defaults).(map[string]interface{})
	keys := sortedKeys(dv)
	for _, key := range keys {
		val := dv[key]
		value, ok := v[key]
		if !ok {
			v[key] = val
			continue
		}
		if value == nil {
			delete(v, key)
		} else if dest, ok := value.(map[string]interface{}); ok {
			if src, ok := val.(map[string]interface{}); ok {
				coalesceTables(dest, src, key, &warnings)
			} else if val != nil {
				warnings = append(warnings, fmt.Sprintf("warning: skipped value for %s: Not a table.", key))
			}
		}
	}
	return v, warnings
}

func coalesceTables(dst, src map[string]interface{}, prefix string, warnings *[]string) {
	// helm >= 3.13: a user null deletes the key even where the default has
	// none.
	for key, val := range dst {
		if val == nil {
			src[key] = nil
		}
	}
	for _, key := range sortedKeys(src) {
		val := src[key]
		full := prefix + "." + key
		dv, ok := dst[key]
		switch {
		case ok && dv == nil:
			delete(dst, key)
		case !ok:
			dst[key] = val
		case isTable(val):
			if isTable(dv) {
				coalesceTables(dv.(map[string]interface{}), val.(map[string]interface{}), full, warnings)
			} else {
				*warnings = append(*warnings, fmt.Sprintf("warning: cannot overwrite table with non table for %s (%v)", full, val))
			}
		case isTable(dv) && val != nil:
			*warnings = append(*warnings, fmt.Sprintf("warning: destination for %s is a table. Ignoring non-table value (%v)", full, val))
		}
	}
}

func isTable(v interface{}) bool {
	_, ok := v.(map[string]interface{})
	return ok
}

func sortedKeys(m map[string]interface{}) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// userValues reads and merges the -f files in order.
func userValues(files []string) (map[string]interface{}, error) {
	out := map[string]interface{}{}
	for _, f := range files {
		data, err := ioutil.ReadFile(f)
		if err != nil {
			return nil, err
		}
		m, err := parseYAMLMap(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", f, err)
		}
		out = mergeMaps(out, m)
	}
	return out, nil
}

// collectStrings returns the string values found under keys named `key`
// anywhere in v (e.g. every existingSecret value).
func collectStrings(v interface{}, key string, out map[string]bool) {
	switch t := v.(type) {
	case map[string]interface{}:
		for k, val := range t {
			if s, ok := val.(string); ok && k == key && s != "" {
				out[s] = true
			}
			collectStrings(val, key, out)
		}
	case []interface{}:
		for _, val := range t {
			collectStrings(val, key, out)
		}
	}
}
