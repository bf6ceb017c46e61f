package main

// Rendering templates the way helm 3's engine does (helm.sh/helm/v3/pkg/
// engine): every file under templates/ is parsed into one template set
// (deepest paths first, so that a later `define` of the same name wins as in
// helm); files whose name starts with '_' are only defined; the others are
// executed with missingkey=zero and "<no value>" removed from the output.
// The functions are sprig's minus env and expandenv, plus helm's own.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig"
	"gopkg.in/yaml.v2"
)

const (
	warnStart = "HELM_ERR_START"
	warnEnd   = "HELM_ERR_END"
	// helm's limit of nested includes of one template.
	recursionMax = 1000
)

// Release is .Release.
type Release struct {
	Name      string
	Namespace string
	Revision  int
	IsInstall bool
	IsUpgrade bool
	Service   string
}

// KubeVersion is .Capabilities.KubeVersion.
type KubeVersion struct {
	Version string
	Major   string
	Minor   string
}

func (k KubeVersion) String() string     { return k.Version }
func (k KubeVersion) GitVersion() string { return k.Version }

// VersionSet is .Capabilities.APIVersions.
type VersionSet []string

// Has says whether an API version (or "version/Kind") is available.
func (v VersionSet) Has(apiVersion string) bool {
	for _, x := range v {
		if x == apiVersion {
			return true
		}
	}
	return false
}

// Capabilities is .Capabilities.
type Capabilities struct {
	KubeVersion KubeVersion
	APIVersions VersionSet
	HelmVersion map[string]string
}

// Files is .Files: the chart's files outside templates/.
type Files map[string][]byte

// Get returns a file's content as a string ("" if absent).
func (f Files) Get(name string) string { return string(f[name]) }

// GetBytes returns a file's content.
func (f Files) GetBytes(name string) []byte { return f[name] }

// Lines returns a file's lines.
func (f Files) Lines(name string) []string {
	if f[name] == nil {
		return []string{}
	}
	return strings.Split(strings.TrimSuffix(string(f[name]), "\n"), "\n")
}

// Glob returns the files whose path matches a pattern.
func (f Files) Glob(pattern string) Files {
	out := Files{}
	for name, data := range f {
		if ok, _ := path.Match(pattern, name); ok {
			out[name] = data
		}
	}
	return out
}

// AsConfig renders the files as a ConfigMap's data (YAML).
func (f Files) AsConfig() string {
	m := map[string]string{}
	for name, data := range f {
		m[path.Base(name)] = string(data)
	}
	return toYAML(m)
}

// AsSecrets renders the files as a Secret's data (YAML, base64).
func (f Files) AsSecrets() string {
	m := map[string]string{}
	for name, data := range f {
		m[path.Base(name)] = encodeBase64(data)
	}
	return toYAML(m)
}

// toYAML is helm's toYaml: sigs.k8s.io/yaml.Marshal (JSON first, then go-yaml
// v2, so keys come out sorted), less the final newline; errors give "".
func toYAML(v interface{}) string {
	j, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	var obj interface{}
	if err := yaml.Unmarshal(j, &obj); err != nil {
		return ""
	}
	out, err := yaml.Marshal(obj)
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(string(out), "\n")
}

func fromYAML(s string) map[string]interface{} {
	m, err := parseYAMLMap([]byte(s))
	if err != nil {
		return map[string]interface{}{"Error": err.Error()}
	}
	return m
}

func fromYAMLArray(s string) []interface{} {
	v, err := parseYAML([]byte(s))
	if err != nil {
		return []interface{}{err.Error()}
	}
	a, ok := v.([]interface{})
	if !ok {
		return []interface{}{fmt.Sprintf("expected a YAML sequence, got %T", v)}
	}
	return a
}

func toJSON(v interface{}) string {
	b, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(b)
}

func fromJSON(s string) map[string]interface{} {
	m := map[string]interface{}{}
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		m["Error"] = err.Error()
	}
	return m
}

func fromJSONArray(s string) []interface{} {
	var a []interface{}
	if err := json.Unmarshal([]byte(s), &a); err != nil {
		a = []interface{}{err.Error()}
	}
	return a
}

// funcMap is helm's: sprig without env/expandenv, plus helm's functions.
// include, tpl, required and fail are bound per rendering (renderer.funcs).
func funcMap() template.FuncMap {
	f := sprig.TxtFuncMap()
	delete(f, "env")
	delete(f, "expandenv")
	extra := template.FuncMap{
		"toToml": func(interface{}) string {
			return "toToml is not supported by chartcheck"
		},
		"toYaml":        toYAML,
		"mustToYaml":    func(v interface{}) (string, error) { return toYAML(v), nil },
		"fromYaml":      fromYAML,
		"fromYamlArray": fromYAMLArray,
		"toJson":        toJSON,
		"mustToJson": func(v interface{}) (string, error) {
			b, err := json.Marshal(v)
			return string(b), err
		},
		"fromJson":      fromJSON,
		"fromJsonArray": fromJSONArray,
		"include":       func(string, interface{}) string { return "not implemented" },
		"tpl":           func(string, interface{}) interface{} { return "not implemented" },
		"required":      func(string, interface{}) (interface{}, error) { return "not implemented", nil },
		// No cluster: lookup finds nothing, as in `helm template`.
		"lookup": func(string, string, string, string) (map[string]interface{}, error) {
			return map[string]interface{}{}, nil
		},
	}
	for k, v := range extra {
		f[k] = v
	}
	return f
}

type renderer struct {
	tmpl     *template.Template
	included map[string]int
}

func (r *renderer) funcs(t *template.Template) template.FuncMap {
	return template.FuncMap{
		"include": func(name string, data interface{}) (string, error) {
			if r.included[name] > recursionMax {
				return "", fmt.Errorf("rendering template has a nested reference name: %s: unable to execute template", name)
			}
			r.included[name]++
			defer func() { r.included[name]-- }()
			var buf strings.Builder
			err := t.ExecuteTemplate(&buf, name, data)
			return buf.String(), err
		},
		"tpl": func(text string, vals interface{}) (string, error) {
			clone, err := t.Clone()
			if err != nil {
				return "", err
			}
			clone.Option("missingkey=zero")
			clone.Funcs(r.funcs(clone))
			nt, err := clone.New(t.Name()).Parse(text)
			if err != nil {
				return "", fmt.Errorf("cannot parse template %q: %v", text, err)
			}
			var buf strings.Builder
			if err := nt.Execute(&buf, vals); err != nil {
				return "", fmt.Errorf("error during tpl function execution for %q: %v", text, err)
			}
			return strings.ReplaceAll(buf.String(), "<no value>", ""), nil
		},
		"required": func(warn string, val interface{}) (interface{}, error) {
			if val == nil {
				return val, errors.New(warnStart + warn + warnEnd)
			}
			if s, ok := val.(string); ok && s == "" {
				return val, errors.New(warnStart + warn + warnEnd)
			}
			return val, nil
		},
		"fail": func(msg string) (string, error) {
			return "", errors.New(warnStart + msg + warnEnd)
		},
	}
}

// pathDepth orders templates as helm's sortTemplates does: more path
// elements first, then reverse lexical order.
func sortTemplates(names []string) {
	sort.Slice(names, func(i, j int) bool {
		a, b := strings.Count(names[i], "/"), strings.Count(names[j], "/")
		if a != b {
			return a > b
		}
		return names[i] > names[j]
	})
}

// render executes every template of the chart. It returns the output of
// each non-partial template by name (NOTES.txt included).
func render(c *Chart, values map[string]interface{}, rel Release, caps Capabilities) (map[string]string, error) {
	r := &renderer{included: map[string]int{}}
	t := template.New("gotpl")
	t.Option("missingkey=zero")
	t.Funcs(funcMap())
	t.Funcs(r.funcs(t))
	r.tmpl = t
	names := make([]string, 0, len(c.Templates))
	for name := range c.Templates {
		names = append(names, name)
	}
	sortTemplates(names)
	for _, name := range names {
		if _, err := t.New(name).Parse(c.Templates[name]); err != nil {
			return nil, cleanupParseError(name, err)
		}
	}
	top := map[string]interface{}{
		"Chart":        &c.Meta,
		"Capabilities": &caps,
		"Release": map[string]interface{}{
			"Name":      rel.Name,
			"Namespace": rel.Namespace,
			"Revision":  rel.Revision,
			"IsInstall": rel.IsInstall,
			"IsUpgrade": rel.IsUpgrade,
			"Service":   rel.Service,
		},
		"Values":    values,
		"Files":     Files(c.Files),
		"Subcharts": map[string]interface{}{},
	}
	out := map[string]string{}
	for _, name := range names {
		if strings.HasPrefix(path.Base(name), "_") {
			continue
		}
		top["Template"] = map[string]interface{}{
			"Name":     name,
			"BasePath": c.Meta.Name + "/templates",
		}
		var buf bytes.Buffer
		if err := t.ExecuteTemplate(&buf, name, top); err != nil {
			return nil, cleanupExecError(name, err)
		}
		out[name] = strings.ReplaceAll(buf.String(), "<no value>", "")
	}
	return out, nil
}

func cleanupParseError(name string, err error) error {
	tokens := strings.SplitN(err.Error(), ": ", 3)
	if len(tokens) == 3 {
		return fmt.Errorf("parse error at (%s): %s", strings.TrimPrefix(tokens[1], "template: "), tokens[2])
	}
	return fmt.Errorf("parse error in (%s): %v", name, err)
}

// cleanupExecError turns text/template's error into helm's "execution error
// at (file:line:col): message", keeping only the message of fail/required.
func cleanupExecError(name string, err error) error {
	var execErr template.ExecError
	if !errors.As(err, &execErr) {
		return err
	}
	tokens := strings.SplitN(err.Error(), ": ", 3)
	if len(tokens) != 3 {
		return fmt.Errorf("execution error in (%s): %v", name, err)
	}
	location, msg := tokens[1], tokens[2]
	if i := strings.Index(msg, warnStart); i >= 0 {
		msg = msg[i+len(warnStart):]
		if j := strings.Index(msg, warnEnd); j >= 0 {
			msg = msg[:j]
		}
	}
	return fmt.Errorf("execution error at (%s): %s", location, msg)
}
